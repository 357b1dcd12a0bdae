//! The OSS client: one async function per API call, each a single signed attempt. Retrying,
//! resuming and scheduling belong to the engine; the only state here is the clock offset that
//! `RequestTimeTooSkewed` teaches us, so every later request is signed with the server's time.
//!
//! Every call takes the same three steps: `request` builds what is sent, with no I/O; `execute`
//! signs it and sends it (a body streams through `stream`, which also watches for stalls);
//! `response` reads the answer. The types the calls take and give live in `types` and are
//! re-exported here.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use http::Method;

use super::digest;
use super::error::Error;
use super::limits::InvalidInput;
use super::listing::{
    self, BucketInfo, BucketInfoResult, BucketSummary, ListAllMyBucketsResult, ListBucketResult,
    Listing, LocationConstraint,
};
use super::presign::{PresignRequest, PresignedUrl, presign_url};
use super::request::{self, Request};
use super::response::{
    self, callback_outcome, check_body, header_string, object_meta, read_xml, request_id,
};
use super::stream::Outgoing;
use super::xml::{self, CompletePart, PartSummary, UploadSummary};

pub use super::chunks::CHUNK_SIZE;
pub use super::response::{MAX_LIST_ANSWER, MAX_XML_ANSWER};
pub use super::types::{
    Body, BodyCheck, CallbackOutcome, ClientConfig, CompleteOutput, FileRange, GetObjectOutput,
    ObjectMeta, ObjectOptions, PaceFn, PartOutput, ProgressFn, PutObjectOutput, Transfer,
};

/// The OSS client. Cheap to clone; clones share connections and the learned clock offset.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    clock_offset: Arc<AtomicI64>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Self, Error> {
        install_crypto_provider();
        // No read timeout here: reqwest's runs from the start of a request to its answer, body
        // upload included, and cut every part slower than it. Stalls are watched instead
        // (`Outgoing::answer`, `response::next_chunk`).
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("oss-uploader/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| InvalidInput::Other(format!("The network client could not start: {e}")))?;
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
            clock_offset: Arc::new(AtomicI64::new(0)),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Seconds added to the local clock when signing (learned from `RequestTimeTooSkewed`).
    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    pub fn set_clock_offset(&self, secs: i64) {
        self.clock_offset.store(secs, Ordering::Relaxed);
    }

    fn stall(&self) -> std::time::Duration {
        self.cfg.read_timeout
    }

    /// Signs and sends one request; a non-2xx answer becomes `Error::Service`.
    async fn execute(&self, req: Request<'_>) -> Result<reqwest::Response, Error> {
        let (response, _) = self.send(req, &Transfer::default()).await?;
        Ok(response)
    }

    /// Signs and sends one request, its body paced and counted by `transfer`; returns the
    /// answer and what can be learnt of the body sent. A failure of the file being read is
    /// reported as that, not as whatever the server or the connection made of it; a request
    /// that makes no progress for the stall limit (`ClientConfig::read_timeout`) is given up.
    async fn send(
        &self,
        mut req: Request<'_>,
        transfer: &Transfer,
    ) -> Result<(reqwest::Response, Outgoing), Error> {
        let (body, outgoing) = Outgoing::start(std::mem::take(&mut req.payload), transfer);
        let local_now = now_unix();
        req.sign(&self.cfg, local_now + self.clock_offset());
        let url = req.url(&self.cfg.endpoint);
        let is_head = req.method == Method::HEAD;
        let stall = self.stall();
        let pending = self
            .http
            .request(req.method, url)
            .headers(req.headers)
            .body(body)
            .send();
        let response = outgoing.answer(pending, stall).await?;
        if response.status().is_success() {
            return Ok((response, outgoing));
        }
        let err = response::service_error(response, is_head, local_now, stall).await;
        if let Some(offset) = err.clock_offset {
            self.set_clock_offset(offset);
        }
        Err(outgoing.explain(Error::service(err)))
    }

    /// Sends a request with a body and checks what the server says it stored against the
    /// bytes sent: its CRC-64, or without one its ETag against our `Content-MD5`. Returns the
    /// CRC-64 of the bytes sent and what was confirmed.
    async fn send_body(
        &self,
        req: Request<'_>,
        transfer: &Transfer,
        what: impl Fn() -> String,
    ) -> Result<(reqwest::Response, u64, BodyCheck), Error> {
        let (resp, outgoing) = self.send(req, transfer).await?;
        let sent = outgoing.sent_crc()?;
        let md5 = transfer
            .content_md5
            .as_deref()
            .and_then(digest::parse_content_md5);
        let check = check_body(resp.headers(), sent, md5.as_ref(), what)?;
        Ok((resp, sent, check))
    }

    /// PutBucket: creates a bucket (optionally with a storage class and ACL).
    pub async fn put_bucket(
        &self,
        bucket: &str,
        storage_class: Option<&str>,
        acl: Option<&str>,
    ) -> Result<(), Error> {
        self.execute(request::put_bucket(bucket, storage_class, acl)?)
            .await?;
        Ok(())
    }

    /// PutObject: a whole object in one request (files smaller than one part).
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Body,
        opts: &ObjectOptions,
        transfer: &Transfer,
    ) -> Result<PutObjectOutput, Error> {
        let req = request::put_object(bucket, key, body, opts, transfer)?;
        let (resp, crc64, check) = self
            .send_body(req, transfer, || format!("object {key}"))
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let stall = self.stall();
        let callback = callback_outcome(opts, status, &headers, resp, now_unix(), stall).await;
        Ok(PutObjectOutput {
            etag: header_string(&headers, "etag").unwrap_or_default(),
            crc64,
            check,
            request_id: request_id(&headers),
            callback,
        })
    }

    /// GetObject, optionally of a byte range (`first..=last`, or `first..` when `last` is None).
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<GetObjectOutput, Error> {
        let response = self
            .execute(request::get_object(bucket, key, range)?)
            .await?;
        let meta = object_meta(response.headers());
        let content_range = header_string(response.headers(), "content-range");
        Ok(GetObjectOutput::new(
            meta,
            content_range,
            response,
            self.stall(),
        ))
    }

    /// HeadObject: the object's size, ETag, CRC-64 and metadata.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, Error> {
        let resp = self.execute(request::head_object(bucket, key)?).await?;
        Ok(object_meta(resp.headers()))
    }

    /// DeleteObject. Deleting an object that does not exist succeeds, as in OSS.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.execute(request::delete_object(bucket, key)?).await?;
        Ok(())
    }

    /// InitiateMultipartUpload: returns the new upload id.
    pub async fn initiate_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        opts: &ObjectOptions,
    ) -> Result<String, Error> {
        let req = request::initiate_multipart_upload(bucket, key, opts)?;
        let resp = self.execute(req).await?;
        let r: xml::InitiateMultipartUploadResult = read_xml(
            resp,
            MAX_XML_ANSWER,
            "InitiateMultipartUpload",
            self.stall(),
        )
        .await?;
        if r.upload_id.is_empty() {
            return Err(Error::Protocol {
                status: 200,
                message: "no UploadId in the answer".into(),
                request_id: String::new(),
            });
        }
        Ok(r.upload_id)
    }

    /// UploadPart: sends one part, streamed, and checks what the server stored against what
    /// was sent (`PartOutput::check`).
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Body,
        transfer: &Transfer,
    ) -> Result<PartOutput, Error> {
        let size = body.len();
        let req = request::upload_part(bucket, key, upload_id, part_number, body, transfer)?;
        let (resp, crc64, check) = self
            .send_body(req, transfer, || format!("part {part_number}"))
            .await?;
        let etag = header_string(resp.headers(), "etag").unwrap_or_default();
        if etag.is_empty() {
            return Err(Error::Protocol {
                status: resp.status().as_u16(),
                message: format!("no ETag for part {part_number}"),
                request_id: request_id(resp.headers()),
            });
        }
        Ok(PartOutput {
            etag,
            crc64,
            size,
            check,
        })
    }

    /// CompleteMultipartUpload with the parts in ascending order.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletePart],
        opts: &ObjectOptions,
    ) -> Result<CompleteOutput, Error> {
        let req = request::complete_multipart_upload(bucket, key, upload_id, parts, opts)?;
        let resp = self.execute(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let crc64 = response::server_crc(&headers);
        let mut etag = header_string(&headers, "etag").unwrap_or_default();
        let mut location = String::new();
        let callback = if opts.wants_callback() {
            callback_outcome(opts, status, &headers, resp, now_unix(), self.stall()).await
        } else {
            let r: xml::CompleteMultipartUploadResult = read_xml(
                resp,
                MAX_XML_ANSWER,
                "CompleteMultipartUpload",
                self.stall(),
            )
            .await?;
            if !r.etag.is_empty() {
                etag = r.etag;
            }
            location = r.location;
            None
        };
        Ok(CompleteOutput {
            etag,
            crc64,
            location,
            request_id: request_id(&headers),
            callback,
        })
    }

    /// AbortMultipartUpload: the server drops the upload and its parts.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), Error> {
        self.execute(request::abort_multipart_upload(bucket, key, upload_id)?)
            .await?;
        Ok(())
    }

    /// ListParts, following every page.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartSummary>, Error> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = request::list_parts(bucket, key, upload_id, marker.as_deref())?;
            let resp = self.execute(req).await?;
            let rid = request_id(resp.headers());
            let page: xml::ListPartsResult =
                read_xml(resp, MAX_LIST_ANSWER, "ListParts", self.stall()).await?;
            all.extend(page.parts);
            if !page.is_truncated {
                return Ok(all);
            }
            let next = page.next_part_number_marker;
            if next.is_empty() || marker.as_deref() == Some(next.as_str()) {
                return Err(Error::Protocol {
                    status: 200,
                    message: "ListParts said there is more but gave no next marker".into(),
                    request_id: rid,
                });
            }
            marker = Some(next);
        }
    }

    /// ListMultipartUploads under a prefix, following every page.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadSummary>, Error> {
        let mut all = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let after = markers.as_ref().map(|(k, u)| (k.as_str(), u.as_str()));
            let req = request::list_multipart_uploads(bucket, prefix, after);
            let resp = self.execute(req).await?;
            let rid = request_id(resp.headers());
            let page: xml::ListMultipartUploadsResult =
                read_xml(resp, MAX_LIST_ANSWER, "ListMultipartUploads", self.stall()).await?;
            all.extend(page.uploads);
            if !page.is_truncated {
                return Ok(all);
            }
            let next = (page.next_key_marker, page.next_upload_id_marker);
            if next.0.is_empty() || markers.as_ref() == Some(&next) {
                return Err(Error::Protocol {
                    status: 200,
                    message: "ListMultipartUploads said there is more but gave no next marker"
                        .into(),
                    request_id: rid,
                });
            }
            markers = Some(next);
        }
    }
}

/// Listing calls and share links: the account's buckets, where a bucket is, what is in it.
impl Client {
    /// ListBuckets (GetService), following every page: every bucket the key may list, with its
    /// region. A key limited to some buckets (a RAM user) may be refused with AccessDenied.
    pub async fn list_buckets(&self, prefix: &str) -> Result<Vec<BucketSummary>, Error> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = listing::list_buckets_request(prefix, marker.as_deref());
            let resp = self.execute(req).await?;
            let rid = request_id(resp.headers());
            let page: ListAllMyBucketsResult =
                read_xml(resp, MAX_LIST_ANSWER, "ListBuckets", self.stall()).await?;
            all.extend(page.buckets.buckets);
            if !page.is_truncated {
                return Ok(all);
            }
            let next = page.next_marker;
            if next.is_empty() || marker.as_deref() == Some(next.as_str()) {
                return Err(no_next_marker("ListBuckets", rid));
            }
            marker = Some(next);
        }
    }

    /// GetBucketInfo: where the bucket is, who owns it and its ACL.
    pub async fn get_bucket_info(&self, bucket: &str) -> Result<BucketInfo, Error> {
        super::limits::validate_bucket(bucket)?;
        let resp = self.execute(listing::bucket_info_request(bucket)).await?;
        let r: BucketInfoResult =
            read_xml(resp, MAX_XML_ANSWER, "GetBucketInfo", self.stall()).await?;
        Ok(r.bucket)
    }

    /// GetBucketLocation: `oss-cn-hangzhou` and the like.
    pub async fn get_bucket_location(&self, bucket: &str) -> Result<String, Error> {
        super::limits::validate_bucket(bucket)?;
        let resp = self
            .execute(listing::bucket_location_request(bucket))
            .await?;
        let r: LocationConstraint =
            read_xml(resp, MAX_XML_ANSWER, "GetBucketLocation", self.stall()).await?;
        Ok(r.location.trim().to_owned())
    }

    /// One page of ListObjectsV2 (up to 1,000 entries), keys decoded; pass the page's
    /// `next_continuation_token` to get the next.
    pub async fn list_objects_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        token: Option<&str>,
    ) -> Result<ListBucketResult, Error> {
        super::limits::validate_bucket(bucket)?;
        let req = listing::list_objects_v2_request(bucket, prefix, delimiter, token);
        let resp = self.execute(req).await?;
        let mut page: ListBucketResult =
            read_xml(resp, MAX_LIST_ANSWER, "ListObjectsV2", self.stall()).await?;
        page.decode_url_encoding();
        Ok(page)
    }

    /// ListObjectsV2 under `prefix`, following every page. With a delimiter (`/`) the keys
    /// below the next delimiter come back folded into `prefixes`, as folders.
    pub async fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
    ) -> Result<Listing, Error> {
        let mut all = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_objects_page(bucket, prefix, delimiter, token.as_deref())
                .await?;
            all.objects.extend(page.contents);
            all.prefixes
                .extend(page.common_prefixes.into_iter().map(|p| p.prefix));
            if !page.is_truncated {
                return Ok(all);
            }
            let next = page.next_continuation_token.unwrap_or_default();
            if next.is_empty() || token.as_deref() == Some(next.as_str()) {
                return Err(no_next_marker("ListObjectsV2", String::new()));
            }
            token = Some(next);
        }
    }

    /// A presigned URL for `req` that works for `expires_secs` (1 s to 7 days) from now, signed
    /// as this client signs, on this client's endpoint or on `domain` (a custom domain bound to
    /// the bucket) when given. No request is sent.
    pub fn presign(
        &self,
        req: &PresignRequest<'_>,
        expires_secs: u64,
        domain: Option<&super::endpoint::Endpoint>,
    ) -> Result<PresignedUrl, Error> {
        let cfg = &self.cfg;
        let endpoint = domain.unwrap_or(&cfg.endpoint);
        let now = now_unix() + self.clock_offset();
        Ok(presign_url(
            endpoint,
            req,
            &cfg.credentials,
            cfg.signature,
            &cfg.region,
            now,
            expires_secs,
        )?)
    }
}

fn no_next_marker(call: &str, request_id: String) -> Error {
    Error::Protocol {
        status: 200,
        message: format!("{call} said there is more but gave no next marker"),
        request_id,
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether `url` opens for anyone: an unsigned HEAD is answered 2xx (the object, or its bucket,
/// is public). Any other answer or failure counts as no; whoever asks then shares a signed
/// link, which opens either way.
pub async fn opens_unsigned(url: &str, timeout: std::time::Duration) -> bool {
    install_crypto_provider();
    let Ok(http) = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("oss-uploader/", env!("CARGO_PKG_VERSION")))
        .build()
    else {
        return false;
    };
    match http.head(url).send().await {
        Ok(answer) => answer.status().is_success(),
        Err(e) => {
            tracing::info!("could not tell whether {url} is public: {e}");
            false
        }
    }
}

/// rustls needs a process-wide crypto provider; ours is ring (lean to build, no C toolchain).
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
