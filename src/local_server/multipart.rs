//! The multipart calls: InitiateMultipartUpload, UploadPart, CompleteMultipartUpload (with
//! OSS's part checks, ETag and combined CRC), AbortMultipartUpload, ListParts and
//! ListMultipartUploads with their paging.

use std::collections::HashMap;

use base64::Engine as _;
use http::{HeaderValue, Response, StatusCode, header};
use md5::{Digest as _, Md5};

use crate::oss::crc64;
use crate::oss::limits::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};
use crate::oss::sign::uri_encode_path;
use crate::oss::xml::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, InitiateMultipartUploadResult,
    ListMultipartUploadsResult, ListPartsResult, PartSummary, UploadSummary, to_xml,
};

use super::body::{BodyError, RequestBody};
use super::callback;
use super::headers::{
    check_declared_size, check_key, check_md5, content_md5, content_type, header_str, is_true,
    object_acl, user_meta,
};
use super::reply::{OssError, build, empty, hex_upper, iso8601, plain_status, xml_response};
use super::request::{
    CallResult, Ctx, Failure, Route, TmpFile, parse_number, require_bucket, require_upload,
};
use super::store::{NewData, ObjectMeta, PartMeta, UploadMeta, new_upload_id};

/// The largest CompleteMultipartUpload body read: 10,000 parts fit in well under this.
const MAX_XML_BODY: usize = 4 * 1024 * 1024;

pub(super) async fn initiate(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let acl = object_acl(ctx.headers)?;
    let forbid = is_true(ctx.headers, "x-oss-forbid-overwrite");
    if forbid {
        let (b, k) = (bucket.clone(), key.clone());
        if ctx.shared.io(move |s| s.object(&b, &k)).await?.is_some() {
            return Err(OssError::file_exists().into());
        }
    }
    let upload = UploadMeta {
        upload_id: new_upload_id(),
        key: key.clone(),
        initiated: ctx.shared.now(),
        content_type: content_type(ctx.headers),
        acl,
        user_meta: user_meta(ctx.headers),
        forbid_overwrite: forbid,
    };
    let (b, u) = (bucket.clone(), upload.clone());
    ctx.shared.io(move |s| s.create_upload(&b, &u)).await?;
    let xml = to_xml(&InitiateMultipartUploadResult {
        bucket,
        key,
        upload_id: upload.upload_id,
    })
    .map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

fn part_number(route: &Route) -> Result<u32, OssError> {
    route
        .param("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .ec("0042-00000001")
        })
}

pub(super) async fn upload_part(ctx: &Ctx<'_>, body: &mut RequestBody<'_>) -> CallResult {
    let number = part_number(ctx.route)?;
    require_bucket(ctx).await?;
    check_key(ctx.route.key())?;
    let upload = require_upload(ctx).await?;
    let expected_md5 = content_md5(ctx.headers)?;
    check_declared_size(ctx.headers, MAX_PART_SIZE)?;
    let tmp = TmpFile(ctx.shared.store.tmp_path());
    let received = body.receive_to_file(&tmp.0, MAX_PART_SIZE).await?;
    check_md5(expected_md5, received.md5)?;
    let part = PartMeta {
        number,
        data_file: String::new(),
        size: received.size,
        md5_hex: hex_upper(&received.md5),
        crc64: received.crc64,
        last_modified: ctx.shared.now(),
    };
    let etag = part.etag();
    let bucket = ctx.route.bucket().to_owned();
    let upload_id = upload.upload_id;
    let committed = {
        let _guard = ctx.shared.lock_upload(&upload_id).await;
        let path = tmp.0.clone();
        ctx.shared
            .io(move |s| s.commit_part(&bucket, &upload_id, part, &path))
            .await?
    };
    if !committed {
        return Err(OssError::no_such_upload().into());
    }
    let builder = Response::builder()
        .header(header::ETAG, etag)
        .header("x-oss-hash-crc64ecma", received.crc64.to_string())
        .header(
            "content-md5",
            base64::engine::general_purpose::STANDARD.encode(received.md5),
        );
    Ok(build(builder, empty()))
}

fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_uppercase()
}

fn md5_from_hex(hex: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The parts a CompleteMultipartUpload names, checked as OSS checks them.
fn chosen_parts(
    ctx: &Ctx<'_>,
    xml: &[u8],
    stored: Vec<PartMeta>,
) -> Result<Vec<PartMeta>, OssError> {
    let complete_all = header_str(ctx.headers, "x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    if complete_all {
        if !xml.iter().all(u8::is_ascii_whitespace) {
            return Err(OssError::invalid_argument(
                "Should not specify the part list when x-oss-complete-all is yes.",
            ));
        }
        if stored.is_empty() {
            return Err(OssError::invalid_argument(
                "The upload has no parts to complete.",
            ));
        }
        return check_sizes(stored);
    }
    let malformed = || {
        OssError::malformed_xml(
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
        .ec("0042-00000203")
    };
    let text = std::str::from_utf8(xml).map_err(|_| malformed())?;
    let request: CompleteMultipartUpload =
        crate::oss::xml::from_xml(text).map_err(|_| malformed())?;
    if request.parts.is_empty() {
        return Err(malformed());
    }
    if request
        .parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(OssError::new(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts list must specified in order by part number.",
        )
        .ec("0042-00000209"));
    }
    let mut by_number: HashMap<u32, PartMeta> = stored.into_iter().map(|p| (p.number, p)).collect();
    let mut chosen = Vec::with_capacity(request.parts.len());
    for wanted in &request.parts {
        match by_number.remove(&wanted.part_number) {
            Some(part) if normalize_etag(&wanted.etag) == part.md5_hex => chosen.push(part),
            _ => {
                return Err(OssError::new(
                    400,
                    "InvalidPart",
                    format!(
                        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag. PartNumber: {}, ETag: {}.",
                        wanted.part_number, wanted.etag
                    ),
                )
                .ec("0042-00000208"));
            }
        }
    }
    check_sizes(chosen)
}

fn check_sizes(parts: Vec<PartMeta>) -> Result<Vec<PartMeta>, OssError> {
    if let Some(small) = parts[..parts.len().saturating_sub(1)]
        .iter()
        .find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(OssError::new(
            400,
            "EntityTooSmall",
            format!(
                "Your proposed upload is smaller than the minimum allowed size. Part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes.",
                small.number, small.size
            ),
        )
        .ec("0042-00000213"));
    }
    Ok(parts)
}

pub(super) async fn complete(ctx: &Ctx<'_>, body: &mut RequestBody<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let (bucket, key) = (ctx.route.bucket().to_owned(), ctx.route.key().to_owned());
    check_key(&key)?;
    let xml = body.read_small(MAX_XML_BODY).await.map_err(|e| match e {
        BodyError::TooLarge(_) => Failure::Oss(OssError::malformed_xml(
            "The CompleteMultipartUpload body is too large.",
        )),
        other => Failure::Body(other),
    })?;
    let callback = callback::parse(ctx.headers)?;
    let acl_override = object_acl(ctx.headers)?;
    let upload_id = ctx.route.param("uploadId").unwrap_or_default().to_owned();
    // Holding the upload's lock keeps a late UploadPart from changing parts being joined.
    let _upload_guard = ctx.shared.lock_upload(&upload_id).await;
    let upload = require_upload(ctx).await?;
    let (b, u) = (bucket.clone(), upload_id.clone());
    let stored = ctx.shared.io(move |s| s.parts(&b, &u)).await?;
    let parts = chosen_parts(ctx, &xml, stored)?;
    let forbid = upload.forbid_overwrite || is_true(ctx.headers, "x-oss-forbid-overwrite");

    let mut md5s = Md5::new();
    let mut crc = 0u64;
    let mut size = 0u64;
    for part in &parts {
        let digest = md5_from_hex(&part.md5_hex)
            .ok_or_else(|| OssError::internal(format!("part {} has a damaged MD5", part.number)))?;
        md5s.update(digest);
        crc = crc64::combine(crc, part.crc64, part.size);
        size += part.size;
    }
    let etag = format!("\"{}-{}\"", hex_upper(&md5s.finalize()), parts.len());
    let meta = ObjectMeta {
        key: key.clone(),
        segments: Vec::new(),
        size,
        etag,
        crc64: crc,
        content_type: upload.content_type.clone(),
        acl: acl_override.or(upload.acl.clone()),
        user_meta: upload.user_meta.clone(),
        last_modified: ctx.shared.now(),
        object_type: "Multipart".to_owned(),
    };

    let data = NewData::Parts {
        upload_id: upload_id.clone(),
        parts,
    };
    ctx.shared
        .commit_object(&bucket, meta.clone(), data, forbid)
        .await?;
    let xml = to_xml(&CompleteMultipartUploadResult {
        location: format!(
            "http://{}/{}/{}",
            ctx.shared.host_id,
            bucket,
            uri_encode_path(&key)
        ),
        bucket,
        key,
        etag: meta.etag.clone(),
    })
    .map_err(|e| OssError::internal(e.to_string()))?;
    let mut ok = xml_response(StatusCode::OK, xml);
    if let Ok(v) = HeaderValue::from_str(&meta.crc64.to_string()) {
        ok.headers_mut().insert("x-oss-hash-crc64ecma", v);
    }
    if let Ok(v) = HeaderValue::from_str(&meta.etag) {
        ok.headers_mut().insert(header::ETAG, v);
    }
    Ok(callback::relay(ctx, ok, callback, &meta).await)
}

pub(super) async fn abort(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let upload_id = ctx.route.param("uploadId").unwrap_or_default().to_owned();
    let _guard = ctx.shared.lock_upload(&upload_id).await;
    require_upload(ctx).await?;
    let bucket = ctx.route.bucket().to_owned();
    ctx.shared
        .io(move |s| s.remove_upload(&bucket, &upload_id))
        .await?;
    Ok(plain_status(StatusCode::NO_CONTENT))
}

pub(super) async fn list_parts(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let upload = require_upload(ctx).await?;
    let max_parts = parse_number(ctx.route, "max-parts", 1000, 1000)?;
    if max_parts == 0 {
        return Err(OssError::invalid_argument("max-parts must be between 1 and 1000.").into());
    }
    let marker = parse_number(ctx.route, "part-number-marker", 0, u64::from(MAX_PARTS))?;
    let (b, u) = (ctx.route.bucket().to_owned(), upload.upload_id.clone());
    let stored = ctx.shared.io(move |s| s.parts(&b, &u)).await?;
    let mut after: Vec<PartMeta> = stored
        .into_iter()
        .filter(|p| u64::from(p.number) > marker)
        .collect();
    let truncated = after.len() as u64 > max_parts;
    after.truncate(max_parts as usize);
    let result = ListPartsResult {
        bucket: ctx.route.bucket().to_owned(),
        key: upload.key,
        upload_id: upload.upload_id,
        part_number_marker: marker.to_string(),
        next_part_number_marker: after
            .last()
            .map(|p| p.number.to_string())
            .unwrap_or_default(),
        max_parts: max_parts.to_string(),
        is_truncated: truncated,
        parts: after
            .iter()
            .map(|p| PartSummary {
                part_number: p.number,
                last_modified: iso8601(p.last_modified),
                etag: p.etag(),
                size: p.size,
                hash_crc64ecma: Some(p.crc64),
            })
            .collect(),
    };
    let xml = to_xml(&result).map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

pub(super) async fn list_uploads(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let max_uploads = parse_number(ctx.route, "max-uploads", 1000, 1000)?;
    if max_uploads == 0 {
        return Err(OssError::invalid_argument("max-uploads must be between 1 and 1000.").into());
    }
    let prefix = ctx.route.param("prefix").unwrap_or_default().to_owned();
    let key_marker = ctx.route.param("key-marker").unwrap_or_default().to_owned();
    let id_marker = ctx
        .route
        .param("upload-id-marker")
        .unwrap_or_default()
        .to_owned();
    let bucket = ctx.route.bucket().to_owned();
    let b = bucket.clone();
    let all = ctx.shared.io(move |s| s.uploads(&b)).await?;
    let mut page: Vec<UploadMeta> = all
        .into_iter()
        .filter(|u| u.key.starts_with(&prefix))
        .filter(|u| {
            key_marker.is_empty()
                || u.key > key_marker
                || (!id_marker.is_empty() && u.key == key_marker && u.upload_id > id_marker)
        })
        .collect();
    let truncated = page.len() as u64 > max_uploads;
    page.truncate(max_uploads as usize);
    let last = page.last();
    let result = ListMultipartUploadsResult {
        bucket,
        key_marker: key_marker.clone(),
        upload_id_marker: id_marker.clone(),
        next_key_marker: last.map(|u| u.key.clone()).unwrap_or_default(),
        next_upload_id_marker: last.map(|u| u.upload_id.clone()).unwrap_or_default(),
        delimiter: ctx.route.param("delimiter").unwrap_or_default().to_owned(),
        prefix,
        max_uploads: max_uploads.to_string(),
        is_truncated: truncated,
        uploads: page
            .iter()
            .map(|u| UploadSummary {
                key: u.key.clone(),
                upload_id: u.upload_id.clone(),
                initiated: iso8601(u.initiated),
            })
            .collect(),
    };
    let xml = to_xml(&result).map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_hex_round_trip() {
        let d = [0xABu8; 16];
        assert_eq!(md5_from_hex(&hex_upper(&d)), Some(d));
        assert_eq!(md5_from_hex("xyz"), None);
    }
}
