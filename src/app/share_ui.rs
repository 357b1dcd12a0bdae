//! "Copy link" that opens for whoever gets it: every bucket is private by default, so the
//! object's plain address answers 403; the link copied is a presigned GET URL that works for
//! `SHARE_LINK_SECS` (7 days, OSS's limit), built without I/O from the row's object and the
//! connection's key. Without a key (nothing saved yet) the plain address is all there is.

use crate::engine::Connection;
use crate::oss::limits::InvalidInput;
use crate::oss::presign::{PresignRequest, PresignedUrl, presign_url};
use crate::oss::sign::Credentials;

/// How long a copied link works: the longest OSS allows.
pub const SHARE_LINK_SECS: u64 = 7 * 24 * 3600;

/// A presigned GET link to `bucket/key` on `connection`, made at `now` (unix seconds).
pub fn share_link(
    connection: &Connection,
    credentials: &Credentials,
    bucket: &str,
    key: &str,
    now: i64,
) -> Result<PresignedUrl, InvalidInput> {
    let cfg = connection.client_config(credentials.clone())?;
    presign_url(
        &cfg.endpoint,
        &PresignRequest::new("GET", bucket, key),
        credentials,
        cfg.signature,
        &cfg.region,
        now,
        SHARE_LINK_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::sign::SignatureVersion;

    #[test]
    fn links_are_presigned_for_seven_days() {
        let conn = Connection {
            endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
            region: None,
            signature: SignatureVersion::V4,
            path_style: false,
        };
        let creds = Credentials::new("ak", "sk").with_security_token("tok");
        let link = share_link(&conn, &creds, "bucket", "dir/a b.jpg", 1702743657).unwrap();
        assert!(
            link.url.starts_with(
                "https://bucket.oss-cn-hangzhou.aliyuncs.com/dir/a%20b.jpg?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20231216T162057Z&x-oss-expires=604800&"
            ),
            "{}",
            link.url
        );
        assert!(
            link.url.contains("&x-oss-security-token=tok&"),
            "{}",
            link.url
        );
        assert_eq!(link.expires_at, 1702743657 + 604_800);
    }
}
