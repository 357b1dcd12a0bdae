//! The listing calls: ListBuckets (GetService), GetBucketInfo, GetBucketLocation, ListObjects
//! and ListObjectsV2, with OSS's paging (markers, continuation tokens, max-keys counting keys
//! and common prefixes together) and `encoding-type=url`. Pages come from the store's key
//! index, so their cost does not grow with the bucket. The bucket's ACL (Put/GetBucketAcl) lives
//! here too, beside GetBucketInfo that reports it.

use base64::Engine as _;
use http::StatusCode;

use crate::oss::listing::{
    AccessControlList, AccessControlPolicy, BucketInfo, BucketInfoResult, BucketSummary, Buckets,
    CommonPrefix, ListAllMyBucketsResult, ListBucketResult, LocationConstraint, ObjectSummary,
    Owner,
};
use crate::oss::xml::to_xml;

use super::headers::bucket_acl;
use super::reply::{OssError, build, empty, iso8601, xml_response};
use super::request::{CallResult, Ctx, parse_number, require_bucket};

/// Entries per page unless `max-keys` says otherwise, and the most a page may hold.
const DEFAULT_MAX_KEYS: u64 = 100;
const MAX_MAX_KEYS: u64 = 1000;

fn owner(ctx: &Ctx<'_>) -> Owner {
    let id = ctx
        .shared
        .config
        .credentials
        .as_ref()
        .map(|c| c.access_key_id.clone())
        .unwrap_or_else(|| "anonymous".to_owned());
    Owner {
        display_name: id.clone(),
        id,
    }
}

fn ok_xml<T: serde::Serialize>(doc: &T) -> CallResult {
    let xml = to_xml(doc).map_err(|e| OssError::internal(e.to_string()))?;
    Ok(xml_response(StatusCode::OK, xml))
}

/// The endpoint clients reach the buckets at: this server.
fn endpoint(ctx: &Ctx<'_>) -> String {
    ctx.shared.host_id.clone()
}

fn max_keys(ctx: &Ctx<'_>) -> Result<u64, OssError> {
    let n = parse_number(ctx.route, "max-keys", DEFAULT_MAX_KEYS, u64::MAX)?;
    if n > MAX_MAX_KEYS {
        return Err(OssError::invalid_argument(format!(
            "max-keys must be at most {MAX_MAX_KEYS}, not {n}."
        )));
    }
    Ok(n)
}

fn url_encoding(ctx: &Ctx<'_>) -> Result<bool, OssError> {
    match ctx.route.param("encoding-type") {
        None | Some("") => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(OssError::invalid_argument(format!(
            "encoding-type must be \"url\", not \"{other}\"."
        ))),
    }
}

pub(super) async fn list_buckets(ctx: &Ctx<'_>) -> CallResult {
    let prefix = ctx.route.param("prefix").unwrap_or_default().to_owned();
    let marker = ctx.route.param("marker").unwrap_or_default().to_owned();
    let max = max_keys(ctx)?;
    let all = ctx.shared.io(|s| s.buckets()).await?;
    let mut matching = all
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix) && *name > marker);
    let region = &ctx.shared.config.region;
    let mut result = ListAllMyBucketsResult {
        prefix: prefix.clone(),
        marker: marker.clone(),
        max_keys: ctx
            .route
            .param("max-keys")
            .map(|_| max.to_string())
            .unwrap_or_default(),
        owner: owner(ctx),
        ..Default::default()
    };
    let mut buckets = Vec::new();
    for (name, created) in matching.by_ref() {
        if buckets.len() as u64 == max {
            result.is_truncated = true;
            break;
        }
        buckets.push(BucketSummary {
            name,
            location: format!("oss-{region}"),
            region: region.clone(),
            creation_date: iso8601(created),
            extranet_endpoint: endpoint(ctx),
            intranet_endpoint: endpoint(ctx),
            storage_class: "Standard".to_owned(),
        });
    }
    if result.is_truncated {
        result.next_marker = buckets.last().map(|b| b.name.clone()).unwrap_or_default();
    }
    result.buckets = Buckets { buckets };
    ok_xml(&result)
}

pub(super) async fn get_bucket_info(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let bucket = ctx.route.bucket().to_owned();
    let b = bucket.clone();
    let (created, acl) = ctx
        .shared
        .io(move |s| Ok((s.bucket_created(&b)?, s.bucket_acl(&b)?)))
        .await?;
    let region = &ctx.shared.config.region;
    ok_xml(&BucketInfoResult {
        bucket: BucketInfo {
            name: bucket,
            location: format!("oss-{region}"),
            creation_date: iso8601(created),
            extranet_endpoint: endpoint(ctx),
            intranet_endpoint: endpoint(ctx),
            storage_class: "Standard".to_owned(),
            owner: owner(ctx),
            access_control_list: AccessControlList { grant: acl },
        },
    })
}

pub(super) async fn get_bucket_acl(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let b = ctx.route.bucket().to_owned();
    let grant = ctx.shared.io(move |s| s.bucket_acl(&b)).await?;
    ok_xml(&AccessControlPolicy {
        owner: owner(ctx),
        access_control_list: AccessControlList { grant },
    })
}

/// PutBucketAcl: `PUT /?acl` with `x-oss-acl`.
pub(super) async fn put_bucket_acl(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    let Some(acl) = bucket_acl(ctx.headers)? else {
        return Err(OssError::invalid_argument("x-oss-acl is missing.").into());
    };
    let b = ctx.route.bucket().to_owned();
    ctx.shared.io(move |s| s.set_bucket_acl(&b, &acl)).await?;
    Ok(build(http::Response::builder(), empty()))
}

pub(super) async fn get_bucket_location(ctx: &Ctx<'_>) -> CallResult {
    require_bucket(ctx).await?;
    ok_xml(&LocationConstraint {
        location: format!("oss-{}", ctx.shared.config.region),
    })
}

/// A V2 continuation token: the page's last entry, base64 so it reads as opaque.
fn token_of(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn token_to_key(token: &str) -> Result<String, OssError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OssError::invalid_argument("The continuation token is not valid."))
}

/// ListObjects (`v2` false) and ListObjectsV2.
pub(super) async fn list_objects(ctx: &Ctx<'_>, v2: bool) -> CallResult {
    require_bucket(ctx).await?;
    let route = ctx.route;
    let prefix = route.param("prefix").unwrap_or_default().to_owned();
    let delimiter = route.param("delimiter").unwrap_or_default().to_owned();
    let max = max_keys(ctx)?;
    let encode = url_encoding(ctx)?;
    let marker = route.param("marker").map(str::to_owned);
    let start_after = route.param("start-after").map(str::to_owned);
    let token = route
        .param("continuation-token")
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let after = if v2 {
        match &token {
            Some(t) => token_to_key(t)?,
            None => start_after.clone().unwrap_or_default(),
        }
    } else {
        marker.clone().unwrap_or_default()
    };
    let bucket = route.bucket().to_owned();
    let (p, d, a) = (prefix.clone(), delimiter.clone(), after);
    let page = ctx
        .shared
        .io(move |s| s.list_page(&bucket, &p, &d, &a, max as usize))
        .await?;
    let with_owner = !v2 || route.param("fetch-owner") == Some("true");
    let owner = owner(ctx);
    let contents: Vec<ObjectSummary> = page
        .objects
        .into_iter()
        .map(|(key, l)| ObjectSummary {
            key,
            last_modified: iso8601(l.last_modified),
            etag: l.etag,
            r#type: l.object_type,
            size: l.size,
            storage_class: "Standard".to_owned(),
            owner: with_owner.then(|| owner.clone()),
        })
        .collect();
    let key_count = (contents.len() + page.prefixes.len()) as u32;
    let last = page.last.filter(|_| page.truncated);
    let mut result = ListBucketResult {
        name: route.bucket().to_owned(),
        prefix,
        max_keys: max as u32,
        delimiter,
        is_truncated: page.truncated,
        contents,
        common_prefixes: page
            .prefixes
            .into_iter()
            .map(|prefix| CommonPrefix { prefix })
            .collect(),
        ..Default::default()
    };
    if v2 {
        result.start_after = start_after;
        result.continuation_token = token;
        result.next_continuation_token = last.as_deref().map(token_of);
        result.key_count = Some(key_count);
    } else {
        result.marker = Some(marker.unwrap_or_default());
        result.next_marker = last;
    }
    if encode {
        result.encode_url_encoding();
    }
    ok_xml(&result)
}
