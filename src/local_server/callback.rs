//! Upload callbacks (`x-oss-callback`, `x-oss-callback-var`): after PutObject or
//! CompleteMultipartUpload the server POSTs a body built from the callback template to a
//! loopback URL and relays the answer, as OSS does; a failed callback leaves the object stored
//! and answers 203 CallbackFailed.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Response, header};

use super::reply::{Body, OssError, build, error_response, full, set};
use super::request::Ctx;
use super::store::ObjectMeta;

/// A parsed `x-oss-callback` header with its custom variables.
#[derive(Clone, Debug)]
pub(crate) struct Callback {
    urls: Vec<String>,
    host: Option<String>,
    body: String,
    body_type: String,
    vars: BTreeMap<String, String>,
}

/// The facts about a stored object a callback body may name.
pub(crate) struct ObjectFacts<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Without quotes.
    pub etag: &'a str,
    pub size: u64,
    pub mime_type: &'a str,
    pub crc64: u64,
}

/// What the callback server said.
pub(crate) enum Outcome {
    Answered { content_type: String, body: Bytes },
    Failed(String),
}

#[derive(serde::Deserialize)]
struct Spec {
    #[serde(rename = "callbackUrl")]
    url: String,
    #[serde(rename = "callbackHost", default)]
    host: Option<String>,
    #[serde(rename = "callbackBody")]
    body: String,
    #[serde(rename = "callbackBodyType", default)]
    body_type: Option<String>,
}

fn invalid(message: &str) -> OssError {
    OssError::invalid_argument(message).ec("0017-00000203")
}

fn decode_json<T: serde::de::DeserializeOwned>(value: &str, what: &str) -> Result<T, OssError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| invalid(&format!("The {what} is not valid base64.")))?;
    serde_json::from_slice(&raw).map_err(|_| invalid(&format!("The {what} is not json format.")))
}

/// Reads the callback headers; `None` when the request has none.
pub(crate) fn parse(headers: &HeaderMap) -> Result<Option<Callback>, OssError> {
    let Some(value) = headers.get("x-oss-callback") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid("The callback configuration is not valid."))?;
    let spec: Spec = decode_json(value, "callback configuration")?;
    let vars: BTreeMap<String, String> = match headers.get("x-oss-callback-var") {
        None => BTreeMap::new(),
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid("The callback variables are not valid."))?;
            decode_json(v, "callback variables")?
        }
    };
    let urls: Vec<String> = spec
        .url
        .split(';')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        return Err(invalid("The callbackUrl is empty."));
    }
    Ok(Some(Callback {
        urls,
        host: spec.host.filter(|h| !h.is_empty()),
        body: spec.body,
        body_type: spec
            .body_type
            .unwrap_or_else(|| "application/x-www-form-urlencoded".to_owned()),
        vars,
    }))
}

fn form_encode(s: &str) -> String {
    crate::oss::sign::uri_encode(s)
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

impl Callback {
    /// The body sent to the callback server, with `${…}` variables replaced.
    pub(crate) fn render(&self, facts: &ObjectFacts<'_>) -> String {
        let escape: fn(&str) -> String = if self.body_type.contains("json") {
            json_escape
        } else {
            form_encode
        };
        let mut values: BTreeMap<String, String> = BTreeMap::from([
            ("bucket".to_owned(), facts.bucket.to_owned()),
            ("object".to_owned(), facts.key.to_owned()),
            ("etag".to_owned(), facts.etag.to_owned()),
            ("size".to_owned(), facts.size.to_string()),
            ("mimeType".to_owned(), facts.mime_type.to_owned()),
            ("crc64".to_owned(), facts.crc64.to_string()),
        ]);
        for (k, v) in &self.vars {
            values.insert(k.clone(), v.clone());
        }
        let mut out = String::with_capacity(self.body.len());
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    // OSS leaves unknown variables empty.
                    if let Some(v) = values.get(name) {
                        out.push_str(&escape(v));
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// POSTs the rendered body to the first URL that answers 2xx.
    pub(crate) async fn call(&self, facts: &ObjectFacts<'_>) -> Outcome {
        let body = self.render(facts);
        let mut last = String::from("The callback URL is empty.");
        for url in &self.urls {
            match self.post(url, &body).await {
                Ok(outcome) => return outcome,
                Err(why) => last = why,
            }
        }
        Outcome::Failed(last)
    }

    async fn post(&self, url: &str, body: &str) -> Result<Outcome, String> {
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| format!("The callback URL {url} is invalid: {e}."))?;
        let host = parsed.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback || parsed.scheme() != "http" {
            return Err(format!(
                "The local server only calls back to http:// URLs on loopback, not {url}."
            ));
        }
        let client = client().map_err(|e| format!("Cannot make an HTTP client: {e}."))?;
        let mut request = client
            .post(parsed)
            .header("content-type", self.body_type.as_str())
            .body(body.to_owned());
        if let Some(host) = &self.host {
            request = request.header("host", host.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("Error status : -1. Connection to {url} failed: {e}."))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("Error status : {}.", status.as_u16()));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("Error status : -1. Reading the callback answer failed: {e}."))?;
        Ok(Outcome::Answered { content_type, body })
    }
}

fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // reqwest is built without a default TLS provider; callbacks are plain http, but
            // building a client still needs one installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .no_proxy()
                // A redirect could lead off loopback, past the check in `post`.
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The answer to a stored upload (`ok`), or the callback server's answer when a callback was
/// asked, carrying the stored object's ETag and checksums either way.
pub(super) async fn relay(
    ctx: &Ctx<'_>,
    ok: Response<Body>,
    callback: Option<Callback>,
    meta: &ObjectMeta,
) -> Response<Body> {
    let Some(callback) = callback else {
        return ok;
    };
    let facts = ObjectFacts {
        bucket: ctx.route.bucket(),
        key: &meta.key,
        etag: meta.etag.trim_matches('"'),
        size: meta.size,
        mime_type: &meta.content_type,
        crc64: meta.crc64,
    };
    let mut answer = match callback.call(&facts).await {
        Outcome::Answered { content_type, body } => {
            let builder = set(Response::builder(), "content-type", &content_type)
                .header(header::CONTENT_LENGTH, body.len());
            build(builder, full(body))
        }
        Outcome::Failed(why) => {
            tracing::info!("upload callback failed: {why}");
            error_response(failed(&why), ctx.request_id, &ctx.shared.host_id, false)
        }
    };
    for name in ["etag", "x-oss-hash-crc64ecma", "content-md5"] {
        if let Some(v) = ok.headers().get(name) {
            answer.headers_mut().insert(name, v.clone());
        }
    }
    answer
}

/// The error body of a failed callback.
pub(crate) fn failed(why: &str) -> OssError {
    OssError::new(203, "CallbackFailed", why).ec("0007-00000203")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables() {
        let cb = Callback {
            urls: vec!["http://127.0.0.1:1/".into()],
            host: None,
            body: "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mime=${mimeType}&crc=${crc64}&v=${x:var}&u=${nope}&tail=${".into(),
            body_type: "application/x-www-form-urlencoded".into(),
            vars: BTreeMap::from([("x:var".to_owned(), "a b".to_owned())]),
        };
        let facts = ObjectFacts {
            bucket: "b",
            key: "dir/中.txt",
            etag: "ABC",
            size: 5,
            mime_type: "text/plain",
            crc64: 7,
        };
        assert_eq!(
            cb.render(&facts),
            "bucket=b&object=dir%2F%E4%B8%AD.txt&etag=ABC&size=5&mime=text%2Fplain&crc=7&v=a%20b&u=&tail=${"
        );
    }
}
