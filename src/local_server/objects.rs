//! The object calls: PutObject (streamed to disk, with Content-MD5, forbid-overwrite and
//! callbacks), GetObject with OSS's range rules and `response-*` header overrides, HeadObject
//! and DeleteObject (folder markers, `name/`, included).

use std::io;

use base64::Engine as _;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::oss::limits::MAX_PUT_OBJECT_SIZE;

use super::body::RequestBody;
use super::callback;
use super::headers::{
    check_declared_size, check_key, check_md5, content_md5, content_type, header_str, is_true,
    object_acl, user_meta,
};
use super::reply::{
    OssError, build, empty, error_response, hex_upper, http_date, plain_status, set,
};
use super::request::{CallResult, Ctx, TmpFile, require_bucket};
use super::store::{NewData, ObjectMeta};

/// Read size when streaming an object back.
const READ_CHUNK: usize = 256 * 1024;

pub(super) async fn put_object(ctx: &Ctx<'_>, body: &mut RequestBody<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let acl = object_acl(ctx.headers)?;
    let expected_md5 = content_md5(ctx.headers)?;
    let callback = callback::parse(ctx.headers)?;
    check_declared_size(ctx.headers, MAX_PUT_OBJECT_SIZE)?;
    let forbid = is_true(ctx.headers, "x-oss-forbid-overwrite");
    if forbid {
        let (b, k) = (bucket.clone(), key.clone());
        if ctx.shared.io(move |s| s.object(&b, &k)).await?.is_some() {
            return Err(OssError::file_exists().into());
        }
    }
    let tmp = TmpFile(ctx.shared.store.tmp_path());
    let received = body.receive_to_file(&tmp.0, MAX_PUT_OBJECT_SIZE).await?;
    check_md5(expected_md5, received.md5)?;
    let meta = ObjectMeta {
        key: key.clone(),
        segments: Vec::new(),
        size: received.size,
        etag: format!("\"{}\"", hex_upper(&received.md5)),
        crc64: received.crc64,
        content_type: content_type(ctx.headers),
        acl,
        user_meta: user_meta(ctx.headers),
        last_modified: ctx.shared.now(),
        object_type: "Normal".to_owned(),
    };
    ctx.shared
        .commit_object(&bucket, meta.clone(), NewData::Body(tmp.0.clone()), forbid)
        .await?;
    let md5_b64 = base64::engine::general_purpose::STANDARD.encode(received.md5);
    let builder = Response::builder()
        .header(header::ETAG, meta.etag.as_str())
        .header("x-oss-hash-crc64ecma", meta.crc64.to_string())
        .header("content-md5", md5_b64);
    let ok = build(builder, empty());
    Ok(callback::relay(ctx, ok, callback, &meta).await)
}

fn object_headers(
    mut builder: http::response::Builder,
    meta: &ObjectMeta,
) -> http::response::Builder {
    builder = set(builder, "content-type", &meta.content_type)
        .header(header::ETAG, meta.etag.as_str())
        .header(header::LAST_MODIFIED, http_date(meta.last_modified))
        .header(header::ACCEPT_RANGES, "bytes")
        .header("x-oss-hash-crc64ecma", meta.crc64.to_string())
        .header("x-oss-object-type", meta.object_type.as_str())
        .header("x-oss-storage-class", "Standard");
    if let Some(acl) = &meta.acl {
        builder = set(builder, "x-oss-object-acl", acl);
    }
    for (name, value) in &meta.user_meta {
        builder = set(builder, name, value);
    }
    builder
}

/// What a `Range` header asks for, as OSS reads it.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    Whole,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

/// OSS serves the whole object for a range it cannot satisfy unless the client asks for
/// standard behaviour (`x-oss-range-behavior: standard`), which clamps the end and answers 416
/// only when the start is past the end.
fn parse_range(value: Option<&str>, size: u64, standard: bool) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let bad = if standard {
        RangeAsk::Unsatisfiable
    } else {
        RangeAsk::Whole
    };
    let parsed = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(start), Some(end)) if start <= end => Some((start, end)),
        (Some(start), None) if b.is_empty() => Some((start, size.saturating_sub(1))),
        (None, Some(n)) if a.is_empty() && n > 0 => {
            Some((size.saturating_sub(n), size.saturating_sub(1)))
        }
        _ => return RangeAsk::Whole,
    };
    match parsed {
        Some((start, _)) if start >= size => bad,
        Some((start, end)) if end >= size => {
            if standard {
                RangeAsk::Part {
                    start,
                    end: size - 1,
                }
            } else {
                RangeAsk::Whole
            }
        }
        Some((start, end)) => RangeAsk::Part { start, end },
        None => RangeAsk::Whole,
    }
}

pub(super) async fn get_object(ctx: &Ctx<'_>, head: bool) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let found = ctx
        .shared
        .io(move |s| {
            for _ in 0..5 {
                let Some(meta) = s.object(&bucket, &key)? else {
                    return Ok(None);
                };
                let paths = s.segment_paths(&bucket, &meta);
                // Opening the first file now notices an overwrite that removed it since the
                // metadata was read; the lookup is then simply repeated.
                match paths
                    .first()
                    .map(|(p, _)| std::fs::File::open(p))
                    .transpose()
                {
                    Ok(first) => return Ok(Some((meta, paths, first))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(io::Error::other(
                "the object kept changing while being opened",
            ))
        })
        .await?;
    let Some((meta, paths, mut first)) = found else {
        return Err(OssError::no_such_key().into());
    };
    let standard = header_str(ctx.headers, "x-oss-range-behavior")
        .is_some_and(|v| v.eq_ignore_ascii_case("standard"));
    let range = parse_range(header_str(ctx.headers, "range"), meta.size, standard);
    let builder = object_headers(Response::builder(), &meta);
    let (builder, start, len) = match range {
        RangeAsk::Whole => (builder.status(StatusCode::OK), 0, meta.size),
        RangeAsk::Part { start, end } => (
            builder.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", meta.size),
            ),
            start,
            end - start + 1,
        ),
        RangeAsk::Unsatisfiable => {
            let mut err = error_response(
                OssError::new(
                    416,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                )
                .ec("0003-00000125"),
                ctx.request_id,
                &ctx.shared.host_id,
                head,
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                err.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(err);
        }
    };
    let mut builder = builder.header(header::CONTENT_LENGTH, len);
    response_overrides(ctx, &mut builder);
    if head {
        return Ok(build(builder, empty()));
    }
    // The pieces of the segments that overlap the range, as (file, offset, length).
    let mut pieces = Vec::new();
    let (mut pos, end) = (0u64, start + len);
    for (i, (path, size)) in paths.into_iter().enumerate() {
        let (from, to) = (start.max(pos), end.min(pos + size));
        if from < to {
            let opened = if i == 0 { first.take() } else { None };
            pieces.push((path, opened, from - pos, to - from));
        }
        pos += size;
    }
    let stream = futures_util::stream::iter(pieces)
        .then(|(path, opened, offset, len)| async move {
            let mut file = match opened {
                Some(f) => tokio::fs::File::from_std(f),
                None => tokio::fs::File::open(&path).await?,
            };
            if offset > 0 {
                file.seek(io::SeekFrom::Start(offset)).await?;
            }
            Ok::<_, io::Error>(tokio_util::io::ReaderStream::with_capacity(
                file.take(len),
                READ_CHUNK,
            ))
        })
        .try_flatten()
        .map_ok(Frame::data);
    Ok(build(builder, BodyExt::boxed(StreamBody::new(stream))))
}

/// `response-content-disposition` and its kin in a GET's query replace the answer's header
/// (a share link that downloads under the file's name uses this).
fn response_overrides(ctx: &Ctx<'_>, builder: &mut http::response::Builder) {
    const OVERRIDES: [(&str, &str); 6] = [
        ("response-content-type", "content-type"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-language", "content-language"),
        ("response-content-encoding", "content-encoding"),
        ("response-cache-control", "cache-control"),
        ("response-expires", "expires"),
    ];
    let Some(headers) = builder.headers_mut() else {
        return;
    };
    for (param, name) in OVERRIDES {
        if let Some(v) = ctx.route.param(param)
            && let Ok(v) = HeaderValue::from_str(v)
        {
            headers.insert(name, v);
        }
    }
}

pub(super) async fn delete_object(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let _guard = ctx.shared.lock_object(&bucket, &key).await;
    // OSS answers 204 whether or not the object existed.
    ctx.shared
        .io(move |s| s.delete_object(&bucket, &key))
        .await?;
    Ok(plain_status(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_oss() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 10, false), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10, false),
            Part { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range(Some("bytes=4-"), 10, false),
            Part { start: 4, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10, false),
            Part { start: 7, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=5-20"), 10, false), Whole);
        assert_eq!(
            parse_range(Some("bytes=5-20"), 10, true),
            Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-20"), 10, false), Whole);
        assert_eq!(parse_range(Some("bytes=10-20"), 10, true), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=3-1"), 10, true), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10, true), Whole);
    }
}
