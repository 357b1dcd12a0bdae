//! Reading what a request's headers ask for, and refusing what OSS would refuse about them.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::HeaderMap;

use crate::oss::limits::validate_key;

use super::reply::OssError;

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub(super) fn is_true(headers: &HeaderMap, name: &str) -> bool {
    header_str(headers, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(super) fn content_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

pub(super) fn object_acl(headers: &HeaderMap) -> Result<Option<String>, OssError> {
    match header_str(headers, "x-oss-object-acl") {
        None => Ok(None),
        Some(acl @ ("default" | "private" | "public-read" | "public-read-write")) => {
            Ok(Some(acl.to_owned()))
        }
        Some(_) => Err(OssError::invalid_argument(
            "no such object access control exists",
        )),
    }
}

/// `x-oss-acl` of PutBucket and PutBucketAcl.
pub(super) fn bucket_acl(headers: &HeaderMap) -> Result<Option<String>, OssError> {
    match header_str(headers, "x-oss-acl") {
        None => Ok(None),
        Some(acl @ ("private" | "public-read" | "public-read-write")) => Ok(Some(acl.to_owned())),
        Some(_) => Err(OssError::invalid_argument(
            "no such bucket access control exists",
        )),
    }
}

pub(super) fn user_meta(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-oss-meta-"))
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The `Content-MD5` the client promised, if any.
pub(super) fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, OssError> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let invalid = || {
        OssError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
        .ec("0017-00000502")
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| invalid())?;
    <[u8; 16]>::try_from(decoded.as_slice())
        .map(Some)
        .map_err(|_| invalid())
}

pub(super) fn check_md5(expected: Option<[u8; 16]>, got: [u8; 16]) -> Result<(), OssError> {
    match expected {
        Some(e) if e != got => Err(OssError::new(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        )
        .ec("0017-00000503")),
        _ => Ok(()),
    }
}

/// Refuses a declared body larger than `max` before reading it.
pub(super) fn check_declared_size(headers: &HeaderMap, max: u64) -> Result<(), OssError> {
    let declared = header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max => Err(OssError::new(
            400,
            "EntityTooLarge",
            format!("Your proposed upload exceeds the maximum allowed size of {max} bytes."),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_key(key: &str) -> Result<(), OssError> {
    validate_key(key)
        .map_err(|e| OssError::new(400, "InvalidObjectName", e.to_string()).ec("0016-00000005"))
}
