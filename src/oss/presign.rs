//! Presigned URLs (query-string signing): a link that lets whoever holds it GET, HEAD or PUT
//! one object until it expires, with no key of their own. V4 puts `x-oss-signature-version`,
//! `x-oss-credential`, `x-oss-date`, `x-oss-expires` (and the STS token) in the query and signs
//! them with the rest of the request; V1 signs the absolute `Expires` time with HMAC-SHA1.
//!
//! Pure functions of the request, the credentials and the time, like `sign`: the client
//! builds share links with them and the local server checks links with the same code.

use http::HeaderMap;

use super::endpoint::Endpoint;
use super::limits::InvalidInput;
use super::sign::{
    Credentials, Resource, SignatureVersion, V4_ALGORITHM, v1_signature, v1_string_to_sign_dated,
    v4_additional_headers, v4_canonical_request, v4_datetime, v4_scope, v4_signature,
};

/// The longest a presigned URL may live: 7 days, OSS's limit for V4.
pub const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

pub const QUERY_SIGNATURE_VERSION: &str = "x-oss-signature-version";
pub const QUERY_CREDENTIAL: &str = "x-oss-credential";
pub const QUERY_DATE: &str = "x-oss-date";
pub const QUERY_EXPIRES: &str = "x-oss-expires";
pub const QUERY_SIGNATURE: &str = "x-oss-signature";
pub const QUERY_ADDITIONAL_HEADERS: &str = "x-oss-additional-headers";
pub const QUERY_SECURITY_TOKEN: &str = "x-oss-security-token";
/// V1's query names.
pub const QUERY_V1_ACCESS_KEY_ID: &str = "OSSAccessKeyId";
pub const QUERY_V1_EXPIRES: &str = "Expires";
pub const QUERY_V1_SIGNATURE: &str = "Signature";
pub const QUERY_V1_SECURITY_TOKEN: &str = "security-token";

/// What a presigned URL lets its holder do.
#[derive(Clone, Debug)]
pub struct PresignRequest<'a> {
    /// `GET`, `HEAD` or `PUT`.
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Parameters that belong to the request, such as `response-content-disposition`.
    pub query: Vec<(String, String)>,
    /// Headers the holder must send as signed (a PUT's `Content-Type`); usually none.
    pub headers: HeaderMap,
}

impl<'a> PresignRequest<'a> {
    pub fn new(method: &'a str, bucket: &'a str, key: &'a str) -> Self {
        Self {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Asks the server to answer with `Content-Disposition: attachment` and `file_name`, so a
    /// browser saves the file under its own name instead of showing it.
    pub fn download_as(mut self, file_name: &str) -> Self {
        self.query.push((
            "response-content-disposition".to_owned(),
            content_disposition_attachment(file_name),
        ));
        self
    }
}

/// `attachment; filename="…"; filename*=UTF-8''…`: the plain form for old browsers (non-ASCII
/// and quotes replaced), the RFC 5987 form for the others.
pub fn content_disposition_attachment(file_name: &str) -> String {
    let plain: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
        super::sign::uri_encode(file_name)
    )
}

/// The full query of a V4 presigned URL, signature last, for a link made at `unix_time` that
/// lives `expires_secs`.
pub fn presign_v4_query(
    req: &PresignRequest<'_>,
    creds: &Credentials,
    region: &str,
    unix_time: i64,
    expires_secs: u64,
) -> Vec<(String, String)> {
    let (datetime, date) = v4_datetime(unix_time);
    let mut query = req.query.clone();
    // In the order the official SDKs write them, so our links read like theirs.
    query.push((QUERY_SIGNATURE_VERSION.to_owned(), V4_ALGORITHM.to_owned()));
    query.push((QUERY_DATE.to_owned(), datetime));
    query.push((QUERY_EXPIRES.to_owned(), expires_secs.to_string()));
    query.push((
        QUERY_CREDENTIAL.to_owned(),
        format!("{}/{}", creds.access_key_id, v4_scope(&date, region)),
    ));
    if let Some(token) = &creds.security_token {
        query.push((QUERY_SECURITY_TOKEN.to_owned(), token.clone()));
    }
    let resource = Resource::object(req.bucket, req.key);
    let canonical = v4_canonical_request(req.method, &resource, &query, &req.headers, &[]);
    let signature = v4_signature(&creds.access_key_secret, region, unix_time, &canonical);
    query.push((QUERY_SIGNATURE.to_owned(), signature));
    query
}

/// The full query of a V1 presigned URL that expires at `expires_at` (unix seconds).
pub fn presign_v1_query(
    req: &PresignRequest<'_>,
    creds: &Credentials,
    expires_at: i64,
) -> Vec<(String, String)> {
    let mut query = req.query.clone();
    let expires = expires_at.to_string();
    query.push((
        QUERY_V1_ACCESS_KEY_ID.to_owned(),
        creds.access_key_id.clone(),
    ));
    query.push((QUERY_V1_EXPIRES.to_owned(), expires.clone()));
    if let Some(token) = &creds.security_token {
        query.push((QUERY_V1_SECURITY_TOKEN.to_owned(), token.clone()));
    }
    let resource = Resource::object(req.bucket, req.key);
    let sts = v1_string_to_sign_dated(req.method, &resource, &query, &req.headers, &expires);
    let signature = v1_signature(&creds.access_key_secret, &sts);
    query.push((QUERY_V1_SIGNATURE.to_owned(), signature));
    query
}

/// A presigned URL and when it stops working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedUrl {
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Checks a lifetime against what OSS allows: 1 second to 7 days.
pub fn validate_expires(expires_secs: u64) -> Result<(), InvalidInput> {
    if (1..=MAX_EXPIRES_SECS).contains(&expires_secs) {
        Ok(())
    } else {
        Err(InvalidInput::Other(format!(
            "A share link can last from 1 second to 7 days (604800 seconds), not {expires_secs} seconds."
        )))
    }
}

/// Builds the URL for `req` on `endpoint`, signed as `signature` says, made at `unix_time`.
pub fn presign_url(
    endpoint: &Endpoint,
    req: &PresignRequest<'_>,
    creds: &Credentials,
    signature: SignatureVersion,
    region: &str,
    unix_time: i64,
    expires_secs: u64,
) -> Result<PresignedUrl, InvalidInput> {
    super::limits::validate_bucket(req.bucket)?;
    super::limits::validate_key(req.key)?;
    validate_expires(expires_secs)?;
    let expires_at = unix_time + expires_secs as i64;
    let query = match signature {
        SignatureVersion::V4 => presign_v4_query(req, creds, region, unix_time, expires_secs),
        SignatureVersion::V1 => presign_v1_query(req, creds, expires_at),
    };
    Ok(PresignedUrl {
        url: endpoint.url(Some(req.bucket), Some(req.key), &query),
        expires_at,
    })
}

/// Header names a V4 presigned URL lists in `x-oss-additional-headers`; none from us today,
/// but a link made elsewhere may carry some.
pub fn additional_headers_of(value: &str, headers: &HeaderMap) -> Vec<String> {
    let names: Vec<String> = value.split(';').map(str::to_owned).collect();
    v4_additional_headers(headers, &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected URLs below were produced by Alibaba's Python SDK v2 (alibabacloud-oss-v2 1.4.1,
    // `Client.presign` with a fixed signing time and expiration) and oss2 2.19.1
    // (`Bucket.sign_url`), for the same inputs, offline.

    const T: i64 = 1702743657;
    const KEY: &str = "dir/a b+中.txt";
    const DISPOSITION: &str =
        "attachment; filename=\"a b+_.txt\"; filename*=UTF-8''a%20b%2B%E4%B8%AD.txt";

    fn url(endpoint: &str, method: &str, sig: SignatureVersion, creds: &Credentials) -> String {
        url_with(
            endpoint,
            PresignRequest::new(method, "bucket", KEY),
            sig,
            creds,
            3600,
        )
    }

    fn url_with(
        endpoint: &str,
        req: PresignRequest<'_>,
        sig: SignatureVersion,
        creds: &Credentials,
        expires: u64,
    ) -> String {
        let endpoint = Endpoint::parse(endpoint).unwrap();
        let p = presign_url(&endpoint, &req, creds, sig, "cn-hangzhou", T, expires).unwrap();
        assert_eq!(p.expires_at, T + expires as i64);
        p.url
    }

    #[test]
    fn v4_urls_match_the_official_sdks() {
        let ak = Credentials::new("ak", "sk");
        let v4 = SignatureVersion::V4;
        let host = "https://bucket.oss-cn-hangzhou.aliyuncs.com/dir/a%20b%2B%E4%B8%AD.txt";
        let common = "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20231216T162057Z";
        let cred = "x-oss-credential=ak%2F20231216%2Fcn-hangzhou%2Foss%2Faliyun_v4_request";
        // oss2's `sign_url` gives the same signature, its parameters in another order.
        let get = "f7467511d88884c7f2d4266f9333024475c1f16792413b106b60f726307cbe9b";
        assert_eq!(
            url("oss-cn-hangzhou.aliyuncs.com", "GET", v4, &ak),
            format!("{host}?{common}&x-oss-expires=3600&{cred}&x-oss-signature={get}")
        );
        assert_eq!(
            url("oss-cn-hangzhou.aliyuncs.com", "PUT", v4, &ak),
            format!(
                "{host}?{common}&x-oss-expires=3600&{cred}&x-oss-signature=b4633029d107d6e3d4abf90bd7da4e2a5a03bae3ca4c16adb5e7311c77fa99bd"
            )
        );
        let head = PresignRequest::new("HEAD", "bucket", KEY);
        assert_eq!(
            url_with("oss-cn-hangzhou.aliyuncs.com", head, v4, &ak, 86400),
            format!(
                "{host}?{common}&x-oss-expires=86400&{cred}&x-oss-signature=75ad1bff55635f3fbb434f41427537c47261ae3adf594f8b1f078ac88ad403ef"
            )
        );
        let sts = Credentials::new("ak", "sk").with_security_token("tok+en/=");
        let get_req = || PresignRequest::new("GET", "bucket", KEY);
        assert_eq!(
            url_with("oss-cn-hangzhou.aliyuncs.com", get_req(), v4, &sts, 604800),
            format!(
                "{host}?{common}&x-oss-expires=604800&{cred}&x-oss-security-token=tok%2Ben%2F%3D&x-oss-signature=847dc242901dccd2606c31c8a1debe5a66e292ea03cda774a97d3682f2e63b87"
            )
        );
        let mut disp = get_req();
        disp.query
            .push(("response-content-disposition".into(), DISPOSITION.into()));
        assert_eq!(
            url_with("oss-cn-hangzhou.aliyuncs.com", disp, v4, &ak, 3600),
            format!(
                "{host}?response-content-disposition=attachment%3B%20filename%3D%22a%20b%2B_.txt%22%3B%20filename%2A%3DUTF-8%27%27a%2520b%252B%25E4%25B8%25AD.txt&{common}&x-oss-expires=3600&{cred}&x-oss-signature=1118e3db479b2fa7dfe48c1038f761613d1417f64bc4ab2453a9d478130989fb"
            )
        );
        // A custom domain and a path-style server sign the same resource.
        assert_eq!(
            url("https://files.example.com", "GET", v4, &ak),
            format!(
                "https://files.example.com/dir/a%20b%2B%E4%B8%AD.txt?{common}&x-oss-expires=3600&{cred}&x-oss-signature={get}"
            )
        );
        assert_eq!(
            url("http://127.0.0.1:9000", "GET", v4, &ak),
            format!(
                "http://127.0.0.1:9000/bucket/dir/a%20b%2B%E4%B8%AD.txt?{common}&x-oss-expires=3600&{cred}&x-oss-signature={get}"
            )
        );
    }

    #[test]
    fn v1_urls_match_the_official_sdks() {
        let ak = Credentials::new("ak", "sk");
        let v1 = SignatureVersion::V1;
        let host = "https://bucket.oss-cn-hangzhou.aliyuncs.com/dir/a%20b%2B%E4%B8%AD.txt";
        let q = "OSSAccessKeyId=ak&Expires=1702747257";
        assert_eq!(
            url("oss-cn-hangzhou.aliyuncs.com", "GET", v1, &ak),
            format!("{host}?{q}&Signature=f3ihXFa8o%2Fj1QbXBT7VUk2ZLYQ8%3D")
        );
        assert_eq!(
            url("oss-cn-hangzhou.aliyuncs.com", "PUT", v1, &ak),
            format!("{host}?{q}&Signature=1NtHie0URgeoQXlswzmB%2F%2F8iEAA%3D")
        );
        let head = PresignRequest::new("HEAD", "bucket", KEY);
        assert_eq!(
            url_with("oss-cn-hangzhou.aliyuncs.com", head, v1, &ak, 86400),
            format!(
                "{host}?OSSAccessKeyId=ak&Expires=1702830057&Signature=cUBolLr84%2FmIfcIG%2Bt9PpMK1RcI%3D"
            )
        );
        let sts = Credentials::new("ak", "sk").with_security_token("tok+en/=");
        let get_req = || PresignRequest::new("GET", "bucket", KEY);
        assert_eq!(
            url_with("oss-cn-hangzhou.aliyuncs.com", get_req(), v1, &sts, 604800),
            format!(
                "{host}?OSSAccessKeyId=ak&Expires=1703348457&security-token=tok%2Ben%2F%3D&Signature=%2FcmJOFDDyONR%2BiS%2Bijxh%2Fls42eI%3D"
            )
        );
        let mut disp = get_req();
        disp.query
            .push(("response-content-disposition".into(), DISPOSITION.into()));
        assert_eq!(
            url_with("oss-cn-hangzhou.aliyuncs.com", disp, v1, &ak, 3600),
            format!(
                "{host}?response-content-disposition=attachment%3B%20filename%3D%22a%20b%2B_.txt%22%3B%20filename%2A%3DUTF-8%27%27a%2520b%252B%25E4%25B8%25AD.txt&{q}&Signature=WjWNeqFQuwWM0pCNInP%2FinhurOs%3D"
            )
        );
        assert_eq!(
            url("http://127.0.0.1:9000", "GET", v1, &ak),
            format!(
                "http://127.0.0.1:9000/bucket/dir/a%20b%2B%E4%B8%AD.txt?{q}&Signature=f3ihXFa8o%2Fj1QbXBT7VUk2ZLYQ8%3D"
            )
        );
    }

    #[test]
    fn disposition_keeps_the_name() {
        assert_eq!(
            content_disposition_attachment("報告 \"final\".pdf"),
            "attachment; filename=\"__ _final_.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A%20%22final%22.pdf"
        );
    }

    #[test]
    fn expiry_limits() {
        assert!(validate_expires(0).is_err());
        assert!(validate_expires(1).is_ok());
        assert!(validate_expires(604_800).is_ok());
        assert!(validate_expires(604_801).is_err());
    }
}
