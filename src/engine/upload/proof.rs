//! Proof that the server holds the bytes that were sent when its answer carries no CRC-64
//! (older deployments, proxies and gateways that drop `x-oss-hash-crc64ecma`).
//!
//! The normal path costs nothing extra: OSS returns the CRC-64 and the protocol layer compares
//! it while the body streams. Only an answer that confirmed nothing (`BodyCheck::Unconfirmed`)
//! leads here: the file's bytes are read again for their MD5, which is compared with the ETag
//! (a part's or a small object's ETag is the MD5 of its body). When the ETag differs, or is not
//! an MD5 (encrypted objects), the body is sent once more with `Content-MD5`, which OSS checks
//! itself and refuses on a mismatch.

use crate::oss::client::{BodyCheck, FileRange, PartOutput, PutObjectOutput};
use crate::oss::digest::{self, EtagCheck, Md5Digest};
use crate::oss::error::Error;

/// An answer to a write that says what the server confirmed.
pub(super) trait Confirmable {
    fn check(&self) -> BodyCheck;
    fn etag(&self) -> &str;
    fn set_check(&mut self, check: BodyCheck);
}

impl Confirmable for PartOutput {
    fn check(&self) -> BodyCheck {
        self.check
    }
    fn etag(&self) -> &str {
        &self.etag
    }
    fn set_check(&mut self, check: BodyCheck) {
        self.check = check;
    }
}

impl Confirmable for PutObjectOutput {
    fn check(&self) -> BodyCheck {
        self.check
    }
    fn etag(&self) -> &str {
        &self.etag
    }
    fn set_check(&mut self, check: BodyCheck) {
        self.check = check;
    }
}

/// Why a body could not be confirmed.
pub(super) enum Unconfirmed<E> {
    /// Sending failed (as `send` reports it).
    Send(E),
    /// The file could not be read again for its MD5.
    File(Error),
}

/// Sends with `send(None)`; when the answer confirms nothing, proves the body by its ETag or
/// sends it again with `Content-MD5` (`send(Some(..))`). The answer returned is confirmed.
/// `range` is the file's bytes that were sent; `None` for an empty body.
pub(super) async fn send_confirmed<T, E, F, Fut>(
    range: Option<&FileRange>,
    mut send: F,
) -> Result<T, Unconfirmed<E>>
where
    T: Confirmable,
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut out = send(None).await.map_err(Unconfirmed::Send)?;
    if out.check().confirmed() {
        return Ok(out);
    }
    let md5 = md5_of(range).await.map_err(Unconfirmed::File)?;
    if digest::compare_etag(out.etag(), &md5) == EtagCheck::Matches {
        out.set_check(BodyCheck::EtagMd5);
        return Ok(out);
    }
    // The ETag says the bytes differ, or cannot say: the server checks this time.
    tracing::warn!(
        etag = out.etag(),
        "no CRC-64 in the answer and the ETag does not prove the body; sending again with Content-MD5"
    );
    send(Some(digest::content_md5(&md5)))
        .await
        .map_err(Unconfirmed::Send)
}

/// The MD5 of bytes that were sent: the file's range, or nothing.
pub(super) async fn md5_of(range: Option<&FileRange>) -> Result<Md5Digest, Error> {
    match range {
        Some(r) if r.len > 0 => digest::md5_of_range(r).await,
        _ => Ok(digest::md5(&[])),
    }
}
