//! What each OSS call sends, built as plain data with no I/O: method, bucket and key, query,
//! headers and a description of the body. Signing is the last pure step. The client only sends
//! what is built here, so every header and query parameter of every call can be checked
//! without a network.

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::digest;
use super::endpoint::Endpoint;
use super::error::Error;
use super::limits::{self, InvalidInput};
use super::sign::{self, RequestParts, Resource, SignatureVersion};
use super::types::{Body, ClientConfig, ObjectOptions, Transfer};
use super::xml::{self, CompletePart};

/// Parts per ListParts page and uploads per ListMultipartUploads page (the OSS maximum).
pub(super) const LIST_PAGE: u32 = 1000;

/// What a request carries after its headers.
#[derive(Clone, Debug, Default)]
pub(super) enum Payload {
    #[default]
    Empty,
    /// A small XML document we wrote (Complete's part list, PutBucket's configuration).
    Xml(String),
    /// The object's bytes, whose CRC-64 is checked against the server's once sent.
    Data(Body),
}

/// One request, before it is signed and sent.
pub(super) struct Request<'a> {
    pub(super) method: Method,
    pub(super) bucket: Option<&'a str>,
    pub(super) key: Option<&'a str>,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) payload: Payload,
}

impl<'a> Request<'a> {
    pub(super) fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        Self {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: HeaderMap::new(),
            payload: Payload::Empty,
        }
    }
    pub(super) fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_owned(), v.into()));
        self
    }
    fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        set_header(&mut self.headers, name, value)?;
        Ok(self)
    }

    /// The URL this request goes to.
    pub(super) fn url(&self, endpoint: &Endpoint) -> String {
        endpoint.url(self.bucket, self.key, &self.query)
    }

    /// Signs the request as of `unix_time` (the local clock plus the learned offset).
    pub(super) fn sign(&mut self, cfg: &ClientConfig, unix_time: i64) {
        let parts = RequestParts {
            method: self.method.as_str(),
            resource: Resource {
                bucket: self.bucket,
                key: self.key,
            },
            query: &self.query,
        };
        match cfg.signature {
            SignatureVersion::V4 => sign::sign_v4(
                &parts,
                &mut self.headers,
                &cfg.credentials,
                &cfg.region,
                unix_time,
                &[],
            ),
            SignatureVersion::V1 => {
                sign::sign_v1(&parts, &mut self.headers, &cfg.credentials, unix_time)
            }
        }
    }

    /// Attaches the object's bytes with the headers that describe them.
    fn data(mut self, body: Body, transfer: &Transfer) -> Result<Self, Error> {
        if let Some(md5) = &transfer.content_md5 {
            // OSS answers a malformed one with the same code as a damaged body: refuse it here,
            // so that code from the server always means damage.
            if digest::parse_content_md5(md5).is_none() {
                return Err(InvalidInput::Other(format!(
                    "The Content-MD5 \"{md5}\" is not the base64 of an MD5 digest."
                ))
                .into());
            }
            set_header(&mut self.headers, "content-md5", md5.trim())?;
        }
        if let Some(limit) = transfer.traffic_limit {
            limits::validate_traffic_limit(limit)?;
            set_header(&mut self.headers, "x-oss-traffic-limit", &limit.to_string())?;
        }
        set_header(&mut self.headers, "content-length", &body.len().to_string())?;
        self.payload = Payload::Data(body);
        Ok(self)
    }

    fn xml<T: serde::Serialize>(mut self, doc: &T) -> Result<Self, Error> {
        let body = xml::to_xml(doc).map_err(|e| InvalidInput::Other(e.to_string()))?;
        self = self.header("content-type", "application/xml")?;
        self.payload = Payload::Xml(body);
        Ok(self)
    }
}

fn set_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), Error> {
    let n = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
        InvalidInput::Other(format!("\"{name}\" cannot be used as a metadata name."))
    })?;
    let v = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
        InvalidInput::Other(format!(
            "The value of \"{name}\" contains characters that cannot be sent (such as line breaks)."
        ))
    })?;
    headers.insert(n, v);
    Ok(())
}

/// A header value for the callback options: base64 of the JSON, unless it already is base64.
fn callback_header(value: &str) -> String {
    let v = value.trim();
    if v.starts_with('{') {
        base64::engine::general_purpose::STANDARD.encode(v)
    } else {
        v.to_owned()
    }
}

/// Which call the object options go with: each takes only the options OSS reads from it.
#[derive(Clone, Copy)]
enum OptionsFor {
    Put,
    Initiate,
    Complete,
}

/// Builds the headers for the object options, for the calls that take them.
fn object_headers(
    req: &mut Request<'_>,
    opts: &ObjectOptions,
    call: OptionsFor,
) -> Result<(), Error> {
    let h = &mut req.headers;
    if matches!(call, OptionsFor::Put | OptionsFor::Initiate) {
        if let Some(ct) = opts.content_type.as_deref().filter(|s| !s.is_empty()) {
            set_header(h, "content-type", ct)?;
        }
        if let Some(sc) = opts.storage_class.as_deref().filter(|s| !s.is_empty()) {
            set_header(h, "x-oss-storage-class", sc)?;
        }
        for (k, v) in &opts.metadata {
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(InvalidInput::Other(format!(
                    "The metadata name \"{k}\" is not allowed: use letters, digits, '-' and '_'."
                ))
                .into());
            }
            set_header(h, &format!("x-oss-meta-{k}"), v)?;
        }
    }
    if matches!(call, OptionsFor::Put | OptionsFor::Complete) {
        if let Some(acl) = opts.acl.as_deref().filter(|s| !s.is_empty()) {
            set_header(h, "x-oss-object-acl", acl)?;
        }
        if let Some(cb) = opts.callback.as_deref().filter(|s| !s.trim().is_empty()) {
            set_header(h, "x-oss-callback", &callback_header(cb))?;
        }
        if let Some(cv) = opts
            .callback_var
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            set_header(h, "x-oss-callback-var", &callback_header(cv))?;
        }
    }
    if opts.forbid_overwrite {
        set_header(h, "x-oss-forbid-overwrite", "true")?;
    }
    Ok(())
}

/// PutBucket: creates a bucket (optionally with a storage class and ACL).
pub(super) fn put_bucket<'a>(
    bucket: &'a str,
    storage_class: Option<&str>,
    acl: Option<&str>,
) -> Result<Request<'a>, Error> {
    limits::validate_bucket(bucket)?;
    let mut req = Request::new(Method::PUT, Some(bucket), None);
    if let Some(acl) = acl {
        req = req.header("x-oss-acl", acl)?;
    }
    if let Some(sc) = storage_class {
        req = req.xml(&xml::CreateBucketConfiguration {
            storage_class: Some(sc.to_owned()),
        })?;
    }
    Ok(req)
}

/// PutObject: a whole object in one request.
pub(super) fn put_object<'a>(
    bucket: &'a str,
    key: &'a str,
    body: Body,
    opts: &ObjectOptions,
    transfer: &Transfer,
) -> Result<Request<'a>, Error> {
    limits::validate_bucket(bucket)?;
    let mut req = on_object(Method::PUT, bucket, key)?;
    object_headers(&mut req, opts, OptionsFor::Put)?;
    req.data(body, transfer)
}

/// A request on an object. Its key is checked first: a key the URL cannot carry unchanged
/// would be signed as one path and sent as another, and refused as a wrong secret.
fn on_object<'a>(method: Method, bucket: &'a str, key: &'a str) -> Result<Request<'a>, Error> {
    limits::validate_key(key)?;
    Ok(Request::new(method, Some(bucket), Some(key)))
}

/// GetObject, optionally of a byte range (`first..=last`, or `first..` when `last` is None).
pub(super) fn get_object<'a>(
    bucket: &'a str,
    key: &'a str,
    range: Option<(u64, Option<u64>)>,
) -> Result<Request<'a>, Error> {
    let req = on_object(Method::GET, bucket, key)?;
    match range {
        Some((first, Some(last))) => req.header("range", &format!("bytes={first}-{last}")),
        Some((first, None)) => req.header("range", &format!("bytes={first}-")),
        None => Ok(req),
    }
}

pub(super) fn head_object<'a>(bucket: &'a str, key: &'a str) -> Result<Request<'a>, Error> {
    on_object(Method::HEAD, bucket, key)
}

pub(super) fn delete_object<'a>(bucket: &'a str, key: &'a str) -> Result<Request<'a>, Error> {
    on_object(Method::DELETE, bucket, key)
}

pub(super) fn initiate_multipart_upload<'a>(
    bucket: &'a str,
    key: &'a str,
    opts: &ObjectOptions,
) -> Result<Request<'a>, Error> {
    limits::validate_bucket(bucket)?;
    let mut req = on_object(Method::POST, bucket, key)?.query("uploads", "");
    object_headers(&mut req, opts, OptionsFor::Initiate)?;
    Ok(req)
}

pub(super) fn upload_part<'a>(
    bucket: &'a str,
    key: &'a str,
    upload_id: &str,
    part_number: u32,
    body: Body,
    transfer: &Transfer,
) -> Result<Request<'a>, Error> {
    limits::validate_part_number(part_number)?;
    on_object(Method::PUT, bucket, key)?
        .query("partNumber", part_number.to_string())
        .query("uploadId", upload_id)
        .data(body, transfer)
}

/// CompleteMultipartUpload, listing the parts in ascending order as OSS requires.
pub(super) fn complete_multipart_upload<'a>(
    bucket: &'a str,
    key: &'a str,
    upload_id: &str,
    parts: &[CompletePart],
    opts: &ObjectOptions,
) -> Result<Request<'a>, Error> {
    let mut sorted = parts.to_vec();
    sorted.sort_by_key(|p| p.part_number);
    let doc = xml::CompleteMultipartUpload { parts: sorted };
    let mut req = on_object(Method::POST, bucket, key)?.query("uploadId", upload_id);
    object_headers(&mut req, opts, OptionsFor::Complete)?;
    req.xml(&doc)
}

pub(super) fn abort_multipart_upload<'a>(
    bucket: &'a str,
    key: &'a str,
    upload_id: &str,
) -> Result<Request<'a>, Error> {
    Ok(on_object(Method::DELETE, bucket, key)?.query("uploadId", upload_id))
}

/// One page of ListParts, after `marker` when it is not the first.
pub(super) fn list_parts<'a>(
    bucket: &'a str,
    key: &'a str,
    upload_id: &str,
    marker: Option<&str>,
) -> Result<Request<'a>, Error> {
    let req = on_object(Method::GET, bucket, key)?
        .query("uploadId", upload_id)
        .query("max-parts", LIST_PAGE.to_string());
    Ok(match marker {
        Some(m) => req.query("part-number-marker", m),
        None => req,
    })
}

/// One page of ListMultipartUploads under `prefix`, after the (key, upload id) markers when it
/// is not the first.
pub(super) fn list_multipart_uploads<'a>(
    bucket: &'a str,
    prefix: &str,
    markers: Option<(&str, &str)>,
) -> Request<'a> {
    let mut req = Request::new(Method::GET, Some(bucket), None)
        .query("uploads", "")
        .query("max-uploads", LIST_PAGE.to_string());
    if !prefix.is_empty() {
        req = req.query("prefix", prefix);
    }
    match markers {
        Some((k, u)) => req.query("key-marker", k).query("upload-id-marker", u),
        None => req,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::oss::sign::Credentials;

    fn query<'r>(req: &'r Request<'_>) -> Vec<(&'r str, &'r str)> {
        req.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn object_options_become_headers() {
        let mut opts = ObjectOptions {
            content_type: Some("text/plain".into()),
            acl: Some("private".into()),
            storage_class: Some("IA".into()),
            callback: Some(r#"{"callbackUrl":"http://x/"}"#.into()),
            callback_var: Some("eyJ4OmEiOiJiIn0=".into()),
            forbid_overwrite: true,
            ..Default::default()
        };
        opts.metadata.insert("Author".into(), "alice".into());
        let mut put = Request::new(Method::PUT, Some("b"), Some("k"));
        object_headers(&mut put, &opts, OptionsFor::Put).unwrap();
        let h = &put.headers;
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["x-oss-object-acl"], "private");
        assert_eq!(h["x-oss-storage-class"], "IA");
        assert_eq!(h["x-oss-meta-author"], "alice");
        assert_eq!(h["x-oss-forbid-overwrite"], "true");
        assert_eq!(h["x-oss-callback"], "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly94LyJ9");
        assert_eq!(h["x-oss-callback-var"], "eyJ4OmEiOiJiIn0=");

        let mut init = Request::new(Method::POST, Some("b"), Some("k"));
        object_headers(&mut init, &opts, OptionsFor::Initiate).unwrap();
        assert!(
            init.headers.get("x-oss-callback").is_none()
                && init.headers.get("x-oss-object-acl").is_none()
        );
        assert_eq!(init.headers["x-oss-meta-author"], "alice");

        let mut done = Request::new(Method::POST, Some("b"), Some("k"));
        object_headers(&mut done, &opts, OptionsFor::Complete).unwrap();
        assert!(done.headers.get("x-oss-meta-author").is_none());
        assert_eq!(done.headers["x-oss-object-acl"], "private");

        opts.metadata.insert("bad name".into(), "x".into());
        let mut r = Request::new(Method::PUT, Some("b"), Some("k"));
        assert!(matches!(
            object_headers(&mut r, &opts, OptionsFor::Put),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn upload_part_carries_its_number_upload_and_transfer_headers() {
        let transfer = Transfer {
            content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
            traffic_limit: Some(819_200),
            ..Default::default()
        };
        let body = Body::Bytes(Bytes::from_static(b"123456789"));
        let req = upload_part("b", "dir/k", "UP1", 7, body, &transfer).unwrap();
        assert_eq!(req.method, Method::PUT);
        assert_eq!((req.bucket, req.key), (Some("b"), Some("dir/k")));
        assert_eq!(query(&req), [("partNumber", "7"), ("uploadId", "UP1")]);
        assert_eq!(req.headers["content-length"], "9");
        assert_eq!(req.headers["content-md5"], "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(req.headers["x-oss-traffic-limit"], "819200");
        assert!(
            matches!(&req.payload, Payload::Data(Body::Bytes(b)) if b.as_ref() == b"123456789")
        );
        // Object options belong to Initiate and Complete, never to a part.
        assert!(req.headers.get("content-type").is_none());

        // Refused before anything is sent.
        let again = || Body::Bytes(Bytes::from_static(b"x"));
        assert!(matches!(
            upload_part("b", "k", "UP1", 0, again(), &Transfer::default()),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            upload_part("b", "k", "UP1", 10_001, again(), &Transfer::default()),
            Err(Error::InvalidInput(_))
        ));
        let too_slow = Transfer {
            traffic_limit: Some(1),
            ..Default::default()
        };
        assert!(matches!(
            upload_part("b", "k", "UP1", 1, again(), &too_slow),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn complete_lists_parts_in_order_with_the_options_oss_reads_there() {
        let opts = ObjectOptions {
            content_type: Some("text/plain".into()),
            acl: Some("public-read".into()),
            forbid_overwrite: true,
            ..Default::default()
        };
        let parts = [
            CompletePart {
                part_number: 3,
                etag: "\"C\"".into(),
            },
            CompletePart {
                part_number: 1,
                etag: "\"A\"".into(),
            },
        ];
        let req = complete_multipart_upload("b", "k", "UP1", &parts, &opts).unwrap();
        assert_eq!(req.method, Method::POST);
        assert_eq!(query(&req), [("uploadId", "UP1")]);
        // The body's type, not the object's: that was given at Initiate.
        assert_eq!(req.headers["content-type"], "application/xml");
        assert_eq!(req.headers["x-oss-object-acl"], "public-read");
        assert_eq!(req.headers["x-oss-forbid-overwrite"], "true");
        let Payload::Xml(body) = &req.payload else {
            panic!("Complete sends XML");
        };
        assert!(
            body.ends_with(
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"A\"</ETag></Part>\
                 <Part><PartNumber>3</PartNumber><ETag>\"C\"</ETag></Part></CompleteMultipartUpload>"
            ),
            "{body}"
        );
    }

    #[test]
    fn initiate_and_put_take_the_object_options() {
        let mut opts = ObjectOptions {
            storage_class: Some("IA".into()),
            ..Default::default()
        };
        opts.metadata.insert("a".into(), "1".into());
        let req = initiate_multipart_upload("bkt", "k", &opts).unwrap();
        assert_eq!(
            (req.method.clone(), query(&req)),
            (Method::POST, vec![("uploads", "")])
        );
        assert_eq!(req.headers["x-oss-storage-class"], "IA");
        assert_eq!(req.headers["x-oss-meta-a"], "1");
        assert!(matches!(req.payload, Payload::Empty));

        let body = Body::Bytes(Bytes::from_static(b"abc"));
        let req = put_object("bkt", "k", body, &opts, &Transfer::default()).unwrap();
        assert_eq!(req.method, Method::PUT);
        assert!(req.query.is_empty());
        assert_eq!(req.headers["content-length"], "3");
        assert_eq!(req.headers["x-oss-meta-a"], "1");

        assert!(matches!(
            initiate_multipart_upload("B!", "k", &opts),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            put_object("bkt", "", Body::Empty, &opts, &Transfer::default()),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn list_pages_carry_their_markers() {
        let first = list_parts("b", "k", "UP1", None).unwrap();
        assert_eq!(query(&first), [("uploadId", "UP1"), ("max-parts", "1000")]);
        let next = list_parts("b", "k", "UP1", Some("1000")).unwrap();
        assert_eq!(
            query(&next),
            [
                ("uploadId", "UP1"),
                ("max-parts", "1000"),
                ("part-number-marker", "1000")
            ]
        );

        let all = list_multipart_uploads("b", "", None);
        assert_eq!(all.key, None);
        assert_eq!(query(&all), [("uploads", ""), ("max-uploads", "1000")]);
        let next = list_multipart_uploads("b", "dir/", Some(("dir/x", "UP9")));
        assert_eq!(
            query(&next),
            [
                ("uploads", ""),
                ("max-uploads", "1000"),
                ("prefix", "dir/"),
                ("key-marker", "dir/x"),
                ("upload-id-marker", "UP9")
            ]
        );
    }

    #[test]
    fn small_calls() {
        let req = get_object("b", "k", Some((5, Some(9)))).unwrap();
        assert_eq!(req.headers["range"], "bytes=5-9");
        let req = get_object("b", "k", Some((5, None))).unwrap();
        assert_eq!(req.headers["range"], "bytes=5-");
        assert!(get_object("b", "k", None).unwrap().headers.is_empty());

        assert_eq!(head_object("b", "k").unwrap().method, Method::HEAD);
        assert_eq!(delete_object("b", "k").unwrap().method, Method::DELETE);
        let abort = abort_multipart_upload("b", "k", "UP1").unwrap();
        assert_eq!(
            (abort.method.clone(), query(&abort)),
            (Method::DELETE, vec![("uploadId", "UP1")])
        );

        let req = put_bucket("new-bucket", Some("IA"), Some("private")).unwrap();
        assert_eq!((req.bucket, req.key), (Some("new-bucket"), None));
        assert_eq!(req.headers["x-oss-acl"], "private");
        assert_eq!(req.headers["content-type"], "application/xml");
        assert!(
            matches!(&req.payload, Payload::Xml(x) if x.contains("<StorageClass>IA</StorageClass>"))
        );
        let plain = put_bucket("new-bucket", None, None).unwrap();
        assert!(plain.headers.is_empty() && matches!(plain.payload, Payload::Empty));
    }

    #[test]
    fn signing_and_url() {
        let endpoint = Endpoint::parse("oss-cn-hangzhou.aliyuncs.com").unwrap();
        let creds = Credentials::new("ak", "sk").with_security_token("tok");
        let v4 =
            ClientConfig::new(endpoint.clone(), None, creds.clone(), SignatureVersion::V4).unwrap();
        let mut req = list_parts("b", "a b", "UP1", None).unwrap();
        assert_eq!(
            req.url(&endpoint),
            "https://b.oss-cn-hangzhou.aliyuncs.com/a%20b?uploadId=UP1&max-parts=1000"
        );
        req.sign(&v4, 1702747512);
        assert_eq!(req.headers["x-oss-date"], "20231216T172512Z");
        assert_eq!(req.headers["x-oss-security-token"], "tok");
        let auth = req.headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
            ),
            "{auth}"
        );

        let v1 = ClientConfig::new(endpoint, None, creds, SignatureVersion::V1).unwrap();
        let mut req = head_object("b", "k").unwrap();
        req.sign(&v1, 1702747512);
        assert_eq!(req.headers["date"], "Sat, 16 Dec 2023 17:25:12 GMT");
        assert!(
            req.headers["authorization"]
                .to_str()
                .unwrap()
                .starts_with("OSS ak:")
        );
    }
}
