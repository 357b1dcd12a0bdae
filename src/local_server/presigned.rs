//! Checks a presigned URL (query-string signature, V1 or V4) as OSS does: the right key, the
//! STS token when one is configured, not expired, and a signature over exactly what was
//! signed, so an edited URL is refused.

use crate::oss::limits::MAX_CLOCK_SKEW_MS;
use crate::oss::presign::{
    MAX_EXPIRES_SECS, QUERY_ADDITIONAL_HEADERS, QUERY_CREDENTIAL, QUERY_DATE, QUERY_EXPIRES,
    QUERY_SECURITY_TOKEN, QUERY_SIGNATURE, QUERY_SIGNATURE_VERSION, QUERY_V1_ACCESS_KEY_ID,
    QUERY_V1_EXPIRES, QUERY_V1_SECURITY_TOKEN, QUERY_V1_SIGNATURE, additional_headers_of,
};
use crate::oss::sign::{
    Credentials, V4_ALGORITHM, parse_v4_datetime, v1_signature, v1_string_to_sign_dated,
    v4_canonical_request, v4_datetime, v4_signature, v4_string_to_sign,
};

use super::auth::{Signed, check_key_and_token};
use super::reply::OssError;

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the query carries a signature of its own.
pub(crate) fn is_presigned(query: &[(String, String)]) -> bool {
    param(query, QUERY_SIGNATURE).is_some()
        || param(query, QUERY_SIGNATURE_VERSION).is_some()
        || (param(query, QUERY_V1_SIGNATURE).is_some()
            && param(query, QUERY_V1_ACCESS_KEY_ID).is_some())
}

fn access_denied(message: &str) -> OssError {
    OssError::new(403, "AccessDenied", message).ec("0002-00000001")
}

fn expired() -> OssError {
    access_denied("Request has expired.")
}

fn mismatch(string_to_sign: String, canonical: Option<String>) -> OssError {
    let mut err = OssError::new(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .ec("0002-00000040");
    err.body.string_to_sign = Some(string_to_sign);
    err.body.canonical_request = canonical;
    err
}

/// Verifies a presigned request; `now` is the server's clock in unix seconds.
pub(crate) fn verify(
    creds: &Credentials,
    req: &Signed<'_>,
    now: i64,
) -> Result<Option<String>, OssError> {
    if param(req.query, QUERY_SIGNATURE).is_some()
        || param(req.query, QUERY_SIGNATURE_VERSION).is_some()
    {
        verify_v4(creds, req, now).map(Some)
    } else {
        verify_v1(creds, req, now).map(|()| None)
    }
}

fn verify_v1(creds: &Credentials, req: &Signed<'_>, now: i64) -> Result<(), OssError> {
    let q = req.query;
    let access_key_id = param(q, QUERY_V1_ACCESS_KEY_ID).unwrap_or_default();
    check_key_and_token(creds, access_key_id, param(q, QUERY_V1_SECURITY_TOKEN))?;
    let Some(expires_text) = param(q, QUERY_V1_EXPIRES) else {
        return Err(access_denied(
            "Query-string authentication requires the Signature, Expires and OSSAccessKeyId parameters",
        ));
    };
    let Ok(expires) = expires_text.parse::<i64>() else {
        return Err(access_denied("Expires is not a number of seconds."));
    };
    if now > expires {
        return Err(expired());
    }
    let sts = v1_string_to_sign_dated(req.method, &req.resource, q, req.headers, expires_text);
    if param(q, QUERY_V1_SIGNATURE) != Some(v1_signature(&creds.access_key_secret, &sts).as_str()) {
        return Err(mismatch(sts, None));
    }
    Ok(())
}

/// Gives the region the link was signed for.
fn verify_v4(creds: &Credentials, req: &Signed<'_>, now: i64) -> Result<String, OssError> {
    let q = req.query;
    if param(q, QUERY_SIGNATURE_VERSION) != Some(V4_ALGORITHM) {
        return Err(OssError::invalid_argument(format!(
            "{QUERY_SIGNATURE_VERSION} must be {V4_ALGORITHM}."
        )));
    }
    let credential = param(q, QUERY_CREDENTIAL).unwrap_or_default();
    let mut scope = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some("oss"), Some("aliyun_v4_request")) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(OssError::invalid_argument(format!(
            "{QUERY_CREDENTIAL} is not of the form AK/DATE/REGION/oss/aliyun_v4_request."
        )));
    };
    check_key_and_token(creds, access_key_id, param(q, QUERY_SECURITY_TOKEN))?;
    let Some(signed_at) = param(q, QUERY_DATE).and_then(parse_v4_datetime) else {
        return Err(access_denied(
            "x-oss-date is missing or not in the form YYYYMMDDTHHMMSSZ.",
        ));
    };
    if v4_datetime(signed_at).1 != date {
        return Err(access_denied(
            "The date in x-oss-credential does not match x-oss-date.",
        ));
    }
    let expires = match param(q, QUERY_EXPIRES).map(str::parse::<u64>) {
        Some(Ok(n)) if (1..=MAX_EXPIRES_SECS).contains(&n) => n as i64,
        _ => {
            return Err(OssError::invalid_argument(format!(
                "{QUERY_EXPIRES} must be a number of seconds from 1 to {MAX_EXPIRES_SECS}."
            )));
        }
    };
    // A link signed in the future by more than the allowed skew is not valid yet.
    if (signed_at - now) * 1000 > MAX_CLOCK_SKEW_MS {
        return Err(access_denied(
            "Request is not valid yet: x-oss-date is in the future.",
        ));
    }
    if now > signed_at + expires {
        return Err(expired());
    }
    let additional = additional_headers_of(
        param(q, QUERY_ADDITIONAL_HEADERS).unwrap_or_default(),
        req.headers,
    );
    let signed_query: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| k != QUERY_SIGNATURE)
        .cloned()
        .collect();
    let canonical = v4_canonical_request(
        req.method,
        &req.resource,
        &signed_query,
        req.headers,
        &additional,
    );
    let expected = v4_signature(&creds.access_key_secret, region, signed_at, &canonical);
    if param(q, QUERY_SIGNATURE) != Some(expected.as_str()) {
        return Err(mismatch(
            v4_string_to_sign(region, signed_at, &canonical),
            Some(canonical),
        ));
    }
    Ok(region.to_owned())
}
