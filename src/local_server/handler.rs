//! One request from arrival to answer: routing a path-style URL to a call, outages and fault
//! rules, the signature check (header or presigned query), then the call itself (in
//! `objects`, `multipart` and `listing`).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use http::request::Parts;
use http::{HeaderValue, Method, Response, header};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;

use crate::oss::limits::validate_bucket;
use crate::oss::sign::Resource;

use super::auth::{self, Signed};
use super::body::{BodyError, RequestBody};
use super::calls::Op;
use super::faults::FaultAction;
use super::headers::bucket_acl;
use super::reply::{Body, OssError, build, empty, error_response, finish, request_id, set};
use super::request::{CallResult, Ctx, Failure, Route, Shared, require_bucket};
use super::{listing, multipart, objects, presigned};

/// The connection is closed without an answer (a fault, or a client that went away).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Dropped(String);

fn decode(s: &str) -> Result<String, OssError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            OssError::invalid_argument("The URL is not valid UTF-8 after percent-decoding.")
        })
}

/// Sub-resources of calls the server does not have; answering NotImplemented beats silently
/// treating `PUT ?acl` as an upload.
const UNSUPPORTED: &[&str] = &[
    "acl",
    "tagging",
    "symlink",
    "append",
    "restore",
    "cors",
    "lifecycle",
    "logging",
    "website",
    "referer",
    "versioning",
    "versions",
    "delete",
    "stat",
    "policy",
    "encryption",
    "inventory",
    "replication",
    "worm",
    "x-oss-process",
    "comp",
    "live",
];

fn route(parts: &Parts) -> Result<Route, OssError> {
    let mut query = Vec::new();
    for pair in parts.uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // Query strings follow form encoding: oss2 (through `requests`) sends a space as `+`
        // and a plus as `%2B`; SDKs that write `%20` are read the same way.
        let form = |s: &str| decode(&s.replace('+', " "));
        query.push((form(k)?, form(v)?));
    }
    let path = parts
        .uri
        .path()
        .strip_prefix('/')
        .unwrap_or(parts.uri.path());
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, k),
        None => (path, ""),
    };
    let bucket = (!bucket.is_empty()).then(|| decode(bucket)).transpose()?;
    let key = (!key.is_empty()).then(|| decode(key)).transpose()?;
    let mut route = Route {
        op: Op::PutBucket,
        bucket,
        key,
        query,
    };
    // `?acl` on a bucket is Put/GetBucketAcl; on an object it is a call we do not have.
    let bucket_acl = route.key.is_none() && route.bucket.is_some() && route.has("acl");
    if let Some(sub) = UNSUPPORTED
        .iter()
        .find(|s| route.has(s) && !(bucket_acl && **s == "acl"))
    {
        return Err(OssError::not_implemented(&format!(
            "the \"{sub}\" sub-resource"
        )));
    }
    let method = &parts.method;
    route.op = match (route.bucket.is_some(), route.key.is_some()) {
        (false, _) => match *method {
            Method::GET => Op::ListBuckets,
            _ => {
                return Err(OssError::not_implemented(&format!(
                    "{method} on the service (only ListBuckets)"
                )));
            }
        },
        (true, false) => match *method {
            Method::PUT if bucket_acl => Op::PutBucketAcl,
            Method::PUT => Op::PutBucket,
            Method::GET if bucket_acl => Op::GetBucketAcl,
            Method::GET if route.has("uploads") => Op::ListMultipartUploads,
            Method::GET if route.has("bucketInfo") => Op::GetBucketInfo,
            Method::GET if route.has("location") => Op::GetBucketLocation,
            Method::GET if route.param("list-type") == Some("2") => Op::ListObjectsV2,
            Method::GET => Op::ListObjects,
            _ => {
                return Err(OssError::not_implemented(&format!(
                    "{method} on a bucket (only PutBucket, the listings, GetBucketInfo, GetBucketLocation and the bucket ACL)"
                )));
            }
        },
        (true, true) => match *method {
            Method::PUT if parts.headers.contains_key("x-oss-copy-source") => {
                return Err(OssError::not_implemented("CopyObject and UploadPartCopy"));
            }
            Method::PUT if route.has("partNumber") || route.has("uploadId") => Op::UploadPart,
            Method::PUT => Op::PutObject,
            Method::GET if route.has("uploadId") => Op::ListParts,
            Method::GET => Op::GetObject,
            Method::HEAD => Op::HeadObject,
            Method::DELETE if route.has("uploadId") => Op::AbortMultipartUpload,
            Method::DELETE => Op::DeleteObject,
            Method::POST if route.has("uploads") => Op::InitiateMultipartUpload,
            Method::POST if route.has("uploadId") => Op::CompleteMultipartUpload,
            _ => return Err(OssError::not_implemented(&format!("{method} on an object"))),
        },
    };
    Ok(route)
}

/// The hyper service: one request in, one answer out, or a dropped connection.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let request_id = request_id();
    let (parts, incoming) = req.into_parts();
    let is_head = parts.method == Method::HEAD;
    let idle = shared.config.body_idle_timeout;
    // Every answer goes through here: `keep` is false when the body was not read to its end,
    // and the connection is then closed after the answer.
    let answer = |mut response: Response<Body>, keep: bool| {
        if !keep {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        finish(&mut response, &request_id, shared.now());
        response
    };
    let error = |err: OssError| error_response(err, &request_id, &shared.host_id, is_head);
    let route = match route(&parts) {
        Ok(route) => route,
        Err(err) => {
            let unrouted = AtomicU64::new(0);
            let keep = RequestBody::new(incoming, &unrouted, idle).finish().await;
            return Ok(answer(error(err), keep));
        }
    };
    let op = route.op;
    shared.counters.request(op);
    let mut body = RequestBody::new(incoming, shared.counters.bytes(op), idle);
    tracing::debug!(%op, method = %parts.method, uri = %parts.uri, "request");

    if shared.faults.in_outage() {
        let keep = body.finish().await;
        let err = OssError::new(
            503,
            "ServiceUnavailable",
            "Please reduce your request rate.",
        )
        .ec("0001-00000503");
        return Ok(answer(error(err), keep));
    }
    let mut reset = false;
    let mut hold_answer = false;
    match shared.faults.take(op) {
        Some(FaultAction::Error {
            status,
            code,
            message,
        }) => {
            tracing::info!(%op, status, %code, "fault: error answer");
            let keep = body.finish().await;
            return Ok(answer(error(OssError::new(status, &code, message)), keep));
        }
        Some(FaultAction::DropAfterBodyBytes(n)) => {
            let why = body.read_then_drop(n).await;
            tracing::info!(%op, "fault: {why}");
            return Err(Dropped(why.to_string()));
        }
        Some(FaultAction::Delay(d)) => {
            tracing::info!(%op, ?d, "fault: delay");
            tokio::time::sleep(d).await;
        }
        Some(FaultAction::Stall) => {
            tracing::info!(%op, "fault: stall");
            // Ends when the client hangs up (hyper drops this future) or the server stops.
            std::future::pending::<()>().await;
        }
        Some(FaultAction::ResetBeforeResponse) => reset = true,
        Some(FaultAction::StallAfterHandling) => hold_answer = true,
        None => {}
    }

    let ctx = Ctx {
        shared: &shared,
        route: &route,
        headers: &parts.headers,
        request_id: &request_id,
    };
    // The signature is checked before a byte of the body is read: a refused upload costs at
    // most DRAIN_LIMIT bytes, or none when it announced more.
    let result = match check_auth(&ctx, &parts.method) {
        Ok(()) => call(&ctx, &mut body).await,
        Err(_) if public_read(&ctx).await => call(&ctx, &mut body).await,
        Err(e) => Err(Failure::Oss(e)),
    };
    let response = match result {
        Ok(response) => response,
        Err(Failure::Oss(err)) => {
            if err.status.is_server_error() {
                tracing::warn!(%op, code = %err.body.code, "{}", err.body.message);
            }
            error(err)
        }
        Err(Failure::Body(BodyError::TooLarge(limit))) => error(OssError::new(
            400,
            "EntityTooLarge",
            format!("Your proposed upload exceeds the maximum allowed size of {limit} bytes."),
        )),
        Err(Failure::Body(BodyError::Idle(idle))) => {
            tracing::info!(%op, "the client paused for {idle:?} mid-body; answering and closing");
            let err = OssError::new(
                400,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            );
            return Ok(answer(error(err), false));
        }
        Err(Failure::Body(BodyError::Io(e))) => error(OssError::from(e)),
        Err(Failure::Body(e)) => {
            tracing::debug!(%op, "no answer: {e}");
            return Err(Dropped(e.to_string()));
        }
    };
    let keep = body.finish().await;
    if hold_answer {
        tracing::info!(%op, "fault: handled, answer held back");
        // Ends when the client hangs up (hyper drops this future) or the server stops.
        std::future::pending::<()>().await;
    }
    if reset {
        tracing::info!(%op, "fault: reset before response");
        return Err(Dropped("connection reset by a fault rule".to_owned()));
    }
    Ok(answer(response, keep))
}

/// Whether an unsigned request may read the object anyway, as OSS allows: the object's ACL is
/// public, or it has none of its own and the bucket's is.
async fn public_read(ctx: &Ctx<'_>) -> bool {
    let unsigned = !ctx.headers.contains_key(header::AUTHORIZATION)
        && !presigned::is_presigned(&ctx.route.query);
    let (Some(bucket), Some(key)) = (&ctx.route.bucket, &ctx.route.key) else {
        return false;
    };
    if !unsigned
        || !matches!(ctx.route.op, Op::GetObject | Op::HeadObject)
        || require_bucket(ctx).await.is_err()
    {
        return false;
    }
    let (bucket, key) = (bucket.clone(), key.clone());
    let acls = ctx
        .shared
        .io(move |s| {
            let object = s.object(&bucket, &key)?.and_then(|m| m.acl);
            Ok((object, s.bucket_acl(&bucket)?))
        })
        .await;
    let public = |acl: &str| matches!(acl, "public-read" | "public-read-write");
    match acls {
        Ok((Some(object), _)) if object != "default" => public(&object),
        Ok((_, bucket)) => public(&bucket),
        Err(_) => false,
    }
}

fn check_auth(ctx: &Ctx<'_>, method: &Method) -> Result<(), OssError> {
    let Some(creds) = &ctx.shared.config.credentials else {
        return Ok(());
    };
    let resource = match (&ctx.route.bucket, &ctx.route.key) {
        (Some(b), Some(k)) => Resource::object(b, k),
        (Some(b), None) => Resource::bucket(b),
        _ => Resource::service(),
    };
    let signed = Signed {
        method: method.as_str(),
        resource,
        query: &ctx.route.query,
        headers: ctx.headers,
    };
    // A presigned URL carries its signature in the query and no Authorization header.
    let region = if !ctx.headers.contains_key(header::AUTHORIZATION)
        && presigned::is_presigned(&ctx.route.query)
    {
        presigned::verify(creds, &signed, ctx.shared.now())?
    } else {
        auth::verify(creds, &signed, ctx.shared.now())?
    };
    // As OSS does, a V4 request on a bucket must be signed for the bucket's region; ListBuckets
    // may be signed for any (every region's endpoint lists them all).
    match region {
        Some(r) if ctx.route.bucket.is_some() && r != ctx.shared.config.region => Err(
            OssError::invalid_argument("Invalid signing region in Authorization header."),
        ),
        _ => Ok(()),
    }
}

async fn call(ctx: &Ctx<'_>, body: &mut RequestBody<'_>) -> CallResult {
    match ctx.route.op {
        Op::PutBucket => put_bucket(ctx).await,
        Op::PutObject => objects::put_object(ctx, body).await,
        Op::GetObject => objects::get_object(ctx, false).await,
        Op::HeadObject => objects::get_object(ctx, true).await,
        Op::DeleteObject => objects::delete_object(ctx).await,
        Op::InitiateMultipartUpload => multipart::initiate(ctx).await,
        Op::UploadPart => multipart::upload_part(ctx, body).await,
        Op::CompleteMultipartUpload => multipart::complete(ctx, body).await,
        Op::AbortMultipartUpload => multipart::abort(ctx).await,
        Op::ListParts => multipart::list_parts(ctx).await,
        Op::ListMultipartUploads => multipart::list_uploads(ctx).await,
        Op::ListBuckets => listing::list_buckets(ctx).await,
        Op::GetBucketInfo => listing::get_bucket_info(ctx).await,
        Op::GetBucketLocation => listing::get_bucket_location(ctx).await,
        Op::PutBucketAcl => listing::put_bucket_acl(ctx).await,
        Op::GetBucketAcl => listing::get_bucket_acl(ctx).await,
        Op::ListObjects => listing::list_objects(ctx, false).await,
        Op::ListObjectsV2 => listing::list_objects(ctx, true).await,
    }
}

async fn put_bucket(ctx: &Ctx<'_>) -> CallResult {
    let bucket = ctx.route.bucket().to_owned();
    validate_bucket(&bucket)
        .map_err(|e| OssError::new(400, "InvalidBucketName", e.to_string()).ec("0015-00000001"))?;
    let acl = bucket_acl(ctx.headers)?;
    let b = bucket.clone();
    ctx.shared
        .io(move |s| {
            let created = s.create_bucket(&b)?;
            // As on OSS, the ACL is set when the bucket is made, not by a PutBucket on one that
            // exists.
            match acl {
                Some(acl) if created => s.set_bucket_acl(&b, &acl),
                _ => Ok(()),
            }
        })
        .await?;
    let builder = set(Response::builder(), "location", &format!("/{bucket}"));
    Ok(build(builder, empty()))
}
