//! Checks a request's V4 or V1 header signature, its clock skew and its STS token against the
//! configured credentials, answering with the error OSS would give.

use http::HeaderMap;

use crate::oss::limits::MAX_CLOCK_SKEW_MS;
use crate::oss::sign::{
    Credentials, HEADER_DATE, HEADER_SECURITY_TOKEN, Resource, V4_ALGORITHM, parse_v4_datetime,
    v1_signature, v1_string_to_sign, v4_canonical_request, v4_signature, v4_string_to_sign,
};

use super::reply::{OssError, iso8601};

/// What is signed besides the headers.
pub(crate) struct Signed<'a> {
    pub method: &'a str,
    pub resource: Resource<'a>,
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn access_denied(message: &str) -> OssError {
    OssError::new(403, "AccessDenied", message).ec("0002-00000001")
}

fn skew_error(request_time: i64, now: i64) -> OssError {
    let mut err = OssError::new(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    )
    .ec("0002-00000504");
    err.body.server_time = Some(iso8601(now));
    err.body.request_time = Some(iso8601(request_time));
    err.body.max_allowed_skew_milliseconds = Some(MAX_CLOCK_SKEW_MS.to_string());
    err
}

fn check_skew(request_time: i64, now: i64) -> Result<(), OssError> {
    if (request_time - now).abs() * 1000 > MAX_CLOCK_SKEW_MS {
        Err(skew_error(request_time, now))
    } else {
        Ok(())
    }
}

/// What an `Authorization` header says, as the server reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    V1 {
        access_key_id: String,
        signature: String,
    },
    V4 {
        access_key_id: String,
        date: String,
        region: String,
        additional_headers: Vec<String>,
        signature: String,
    },
}

/// Parses an `Authorization` header of either version; `None` when it is neither.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix(V4_ALGORITHM) {
        let mut credential = None;
        let mut additional = Vec::new();
        let mut signature = None;
        for field in rest.split(',') {
            let (k, v) = field.trim().split_once('=')?;
            match k.trim() {
                "Credential" => credential = Some(v.trim().to_owned()),
                "AdditionalHeaders" => {
                    additional = v
                        .split(';')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .collect()
                }
                "Signature" => signature = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        let credential = credential?;
        let mut parts = credential.split('/');
        let access_key_id = parts.next()?.to_owned();
        let date = parts.next()?.to_owned();
        let region = parts.next()?.to_owned();
        if parts.next()? != "oss" || parts.next()? != "aliyun_v4_request" {
            return None;
        }
        return Some(Authorization::V4 {
            access_key_id,
            date,
            region,
            additional_headers: additional,
            signature: signature?,
        });
    }
    let rest = value.strip_prefix("OSS ")?;
    let (ak, sig) = rest.trim().rsplit_once(':')?;
    Some(Authorization::V1 {
        access_key_id: ak.to_owned(),
        signature: sig.to_owned(),
    })
}

/// The key and the STS token a request (signed in its header or presigned) names, against the
/// server's: OSS's codes for a wrong key and a wrong token.
pub(super) fn check_key_and_token(
    creds: &Credentials,
    access_key_id: &str,
    token: Option<&str>,
) -> Result<(), OssError> {
    if access_key_id != creds.access_key_id {
        return Err(OssError::new(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        )
        .ec("0002-00000902"));
    }
    if let Some(expected) = &creds.security_token
        && token != Some(expected.as_str())
    {
        return Err(OssError::new(
            403,
            "InvalidAccessKeyId",
            "The security token you provided is invalid.",
        )
        .ec("0002-00000903"));
    }
    Ok(())
}

/// Verifies the request; `now` is the server's (possibly offset) clock in unix seconds. Gives
/// the region a V4 signature was made for (`None` for V1, which names none).
pub(crate) fn verify(
    creds: &Credentials,
    req: &Signed<'_>,
    now: i64,
) -> Result<Option<String>, OssError> {
    let Some(value) = header(req.headers, "authorization") else {
        return Err(access_denied(
            "You have no right to access this object: the request carries no Authorization header and anonymous access is off.",
        ));
    };
    let Some(auth) = parse_authorization(value) else {
        return Err(OssError::invalid_argument(
            "Authorization header is invalid.",
        ));
    };
    let access_key_id = match &auth {
        Authorization::V1 { access_key_id, .. } | Authorization::V4 { access_key_id, .. } => {
            access_key_id
        }
    };
    check_key_and_token(
        creds,
        access_key_id,
        header(req.headers, HEADER_SECURITY_TOKEN),
    )?;
    match auth {
        Authorization::V4 {
            date,
            region,
            additional_headers,
            signature,
            ..
        } => {
            let Some(request_time) = header(req.headers, HEADER_DATE).and_then(parse_v4_datetime)
            else {
                return Err(access_denied(
                    "x-oss-date is missing or not in the form YYYYMMDDTHHMMSSZ.",
                ));
            };
            check_skew(request_time, now)?;
            if crate::oss::sign::v4_datetime(request_time).1 != date {
                return Err(access_denied(
                    "The date in the Credential scope does not match x-oss-date.",
                ));
            }
            let canonical = v4_canonical_request(
                req.method,
                &req.resource,
                req.query,
                req.headers,
                &additional_headers,
            );
            let expected =
                v4_signature(&creds.access_key_secret, &region, request_time, &canonical);
            if expected != signature {
                let mut err = OssError::new(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                )
                .ec("0002-00000040");
                err.body.string_to_sign =
                    Some(v4_string_to_sign(&region, request_time, &canonical));
                err.body.canonical_request = Some(canonical);
                return Err(err);
            }
            Ok(Some(region))
        }
        Authorization::V1 { signature, .. } => {
            let date = header(req.headers, "date")
                .or_else(|| header(req.headers, HEADER_DATE))
                .and_then(|d| httpdate::parse_http_date(d).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let Some(request_time) = date.map(|d| d.as_secs() as i64) else {
                return Err(access_denied(
                    "The Date header is missing or not an HTTP date.",
                ));
            };
            check_skew(request_time, now)?;
            let string_to_sign =
                v1_string_to_sign(req.method, &req.resource, req.query, req.headers);
            if v1_signature(&creds.access_key_secret, &string_to_sign) != signature {
                let mut err = OssError::new(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                )
                .ec("0002-00000040");
                err.body.string_to_sign = Some(string_to_sign);
                return Err(err);
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::sign::{RequestParts, sign_v4};

    /// The `Authorization` header the client sends for a request, and its signature.
    fn signed(unix: i64, creds: &Credentials, additional: &[String]) -> (String, String) {
        let mut h = HeaderMap::new();
        h.insert("abc", http::HeaderValue::from_static("value"));
        let req = RequestParts {
            method: "PUT",
            resource: Resource::object("bucket", "1234+-/123/1.txt"),
            query: &[],
        };
        sign_v4(&req, &mut h, creds, "cn-hangzhou", unix, additional);
        let auth = h["authorization"].to_str().unwrap().to_owned();
        let sig = auth.rsplit_once("Signature=").unwrap().1.to_owned();
        (auth, sig)
    }

    #[test]
    fn authorization_round_trips() {
        let (auth, sig) = signed(
            1702747512,
            &Credentials::new("ak", "sk"),
            &["abc".to_owned()],
        );
        assert_eq!(
            parse_authorization(&auth),
            Some(Authorization::V4 {
                access_key_id: "ak".into(),
                date: "20231216".into(),
                region: "cn-hangzhou".into(),
                additional_headers: vec!["abc".into()],
                signature: sig,
            })
        );
        assert_eq!(
            parse_authorization("OSS my:key:sig="),
            Some(Authorization::V1 {
                access_key_id: "my:key".into(),
                signature: "sig=".into()
            })
        );
        assert_eq!(parse_authorization("Bearer x"), None);
        assert_eq!(
            parse_authorization("OSS4-HMAC-SHA256 Credential=ak/x,Signature=1"),
            None
        );
    }
}
