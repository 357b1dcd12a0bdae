//! Listing what an account holds: ListBuckets (GetService), GetBucketInfo, GetBucketLocation,
//! ListObjects and ListObjectsV2. The XML bodies are shared by the client (which reads them)
//! and the local server (which writes them), as in `xml`; `encoding-type=url` is undone here so
//! callers only ever see plain keys.

use http::Method;
use serde::{Deserialize, Serialize};

use super::request::Request;
use super::sign::uri_encode;

/// Buckets per ListBuckets page and keys per ListObjects page the client asks for (the most
/// OSS gives).
pub const LIST_PAGE: u32 = 1000;

/// The owner of a bucket or an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "DisplayName", default)]
    pub display_name: String,
}

/// One page of ListBuckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListAllMyBucketsResult", rename_all = "PascalCase")]
pub struct ListAllMyBucketsResult {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub marker: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub max_keys: String,
    #[serde(default)]
    pub is_truncated: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_marker: String,
    #[serde(default)]
    pub owner: Owner,
    #[serde(default)]
    pub buckets: Buckets,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    #[serde(rename = "Bucket", default)]
    pub buckets: Vec<BucketSummary>,
}

/// A bucket as ListBuckets describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketSummary {
    pub name: String,
    /// `oss-cn-hangzhou`.
    #[serde(default)]
    pub location: String,
    /// `cn-hangzhou`; older answers leave it out (then it follows from `location`).
    #[serde(default)]
    pub region: String,
    /// ISO 8601.
    #[serde(default)]
    pub creation_date: String,
    #[serde(default)]
    pub extranet_endpoint: String,
    #[serde(default)]
    pub intranet_endpoint: String,
    #[serde(default)]
    pub storage_class: String,
}

impl BucketSummary {
    /// The V4 signing region: `Region`, or `Location` without its `oss-`.
    pub fn signing_region(&self) -> String {
        if !self.region.is_empty() {
            return self.region.clone();
        }
        region_of_location(&self.location)
    }
}

/// `oss-cn-hangzhou` → `cn-hangzhou`.
pub fn region_of_location(location: &str) -> String {
    let l = location.trim();
    l.strip_prefix("oss-").unwrap_or(l).to_owned()
}

/// GetBucketInfo's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "BucketInfo")]
pub struct BucketInfoResult {
    #[serde(rename = "Bucket")]
    pub bucket: BucketInfo,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfo {
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub creation_date: String,
    #[serde(default)]
    pub extranet_endpoint: String,
    #[serde(default)]
    pub intranet_endpoint: String,
    #[serde(default)]
    pub storage_class: String,
    #[serde(default)]
    pub owner: Owner,
    #[serde(default)]
    pub access_control_list: AccessControlList,
}

impl BucketInfo {
    pub fn signing_region(&self) -> String {
        region_of_location(&self.location)
    }

    /// Whether anyone may read the bucket's objects without a signature.
    pub fn is_public_read(&self) -> bool {
        matches!(
            self.access_control_list.grant.as_str(),
            "public-read" | "public-read-write"
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessControlList {
    #[serde(rename = "Grant", default)]
    pub grant: String,
}

/// GetBucketAcl's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "AccessControlPolicy", rename_all = "PascalCase")]
pub struct AccessControlPolicy {
    #[serde(default)]
    pub owner: Owner,
    #[serde(default)]
    pub access_control_list: AccessControlList,
}

/// GetBucketLocation's answer: `<LocationConstraint>oss-cn-hangzhou</LocationConstraint>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "LocationConstraint")]
pub struct LocationConstraint {
    #[serde(rename = "$text", default)]
    pub location: String,
}

/// One page of ListObjects (V1) or ListObjectsV2: both answer `ListBucketResult`, with the
/// fields of their version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListBucketResult {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub prefix: String,
    /// V1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// V2 only, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// V2 only, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(default)]
    pub max_keys: u32,
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub is_truncated: bool,
    /// V1, when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// V2, when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    /// V2 only: keys and common prefixes on this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_count: Option<u32>,
    /// `url` when keys, prefixes, markers and tokens are %-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    #[serde(rename = "Contents", default)]
    pub contents: Vec<ObjectSummary>,
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// An object as a listing describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectSummary {
    pub key: String,
    /// ISO 8601.
    #[serde(default)]
    pub last_modified: String,
    #[serde(rename = "ETag", default)]
    pub etag: String,
    /// `Normal`, `Multipart`, `Appendable`, `Symlink`.
    #[serde(default)]
    pub r#type: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

impl ObjectSummary {
    /// A zero-byte object whose name ends in `/`: what the OSS console makes as a folder.
    pub fn is_folder_marker(&self) -> bool {
        self.key.ends_with('/') && self.size == 0
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommonPrefix {
    #[serde(rename = "Prefix")]
    pub prefix: String,
}

impl ListBucketResult {
    /// Undoes `encoding-type=url` in place: keys, prefixes, markers and tokens become plain.
    /// A value that does not decode to UTF-8 is kept as sent.
    pub fn decode_url_encoding(&mut self) {
        if self.encoding_type.as_deref() != Some("url") {
            return;
        }
        self.for_each_encoded(|s| {
            if let Ok(plain) = percent_encoding::percent_decode_str(s).decode_utf8() {
                *s = plain.into_owned();
            }
        });
        self.encoding_type = None;
    }

    /// Applies `encoding-type=url` (the server side of `decode_url_encoding`).
    pub fn encode_url_encoding(&mut self) {
        self.for_each_encoded(|s| *s = uri_encode(s));
        self.encoding_type = Some("url".to_owned());
    }

    /// Every value `encoding-type=url` applies to: one list for both directions.
    fn for_each_encoded(&mut self, mut f: impl FnMut(&mut String)) {
        f(&mut self.prefix);
        f(&mut self.delimiter);
        for s in [
            &mut self.marker,
            &mut self.start_after,
            &mut self.continuation_token,
            &mut self.next_marker,
            &mut self.next_continuation_token,
        ]
        .into_iter()
        .flatten()
        {
            f(s);
        }
        for c in &mut self.contents {
            f(&mut c.key);
        }
        for p in &mut self.common_prefixes {
            f(&mut p.prefix);
        }
    }
}

/// What a listing under a prefix found: the objects directly there and the "folders" below.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<ObjectSummary>,
    /// Common prefixes, each ending with the delimiter (`photos/2024/`).
    pub prefixes: Vec<String>,
}

/// One page of ListBuckets after `marker`.
pub(super) fn list_buckets_request<'a>(prefix: &str, marker: Option<&str>) -> Request<'a> {
    let mut req = Request::new(Method::GET, None, None).query("max-keys", LIST_PAGE.to_string());
    if !prefix.is_empty() {
        req = req.query("prefix", prefix);
    }
    match marker {
        Some(m) => req.query("marker", m),
        None => req,
    }
}

pub(super) fn bucket_info_request(bucket: &str) -> Request<'_> {
    Request::new(Method::GET, Some(bucket), None).query("bucketInfo", "")
}

pub(super) fn bucket_location_request(bucket: &str) -> Request<'_> {
    Request::new(Method::GET, Some(bucket), None).query("location", "")
}

/// One page of ListObjectsV2, keys %-encoded in the answer so any key survives XML.
pub(super) fn list_objects_v2_request<'a>(
    bucket: &'a str,
    prefix: &str,
    delimiter: &str,
    token: Option<&str>,
) -> Request<'a> {
    let mut req = Request::new(Method::GET, Some(bucket), None)
        .query("list-type", "2")
        .query("max-keys", LIST_PAGE.to_string())
        .query("encoding-type", "url");
    if !prefix.is_empty() {
        req = req.query("prefix", prefix);
    }
    if !delimiter.is_empty() {
        req = req.query("delimiter", delimiter);
    }
    match token {
        Some(t) => req.query("continuation-token", t),
        None => req,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::xml::{from_xml, to_xml};

    fn query(req: &Request<'_>) -> Vec<(String, String)> {
        req.query.clone()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn requests_carry_their_paging() {
        let first = list_buckets_request("", None);
        assert_eq!((first.bucket, first.key), (None, None));
        assert_eq!(query(&first), pairs(&[("max-keys", "1000")]));
        let next = list_buckets_request("my", Some("mybucket9"));
        assert_eq!(
            query(&next),
            pairs(&[
                ("max-keys", "1000"),
                ("prefix", "my"),
                ("marker", "mybucket9")
            ])
        );
        assert_eq!(
            query(&bucket_info_request("b")),
            pairs(&[("bucketInfo", "")])
        );
        assert_eq!(
            query(&bucket_location_request("b")),
            pairs(&[("location", "")])
        );
        let page = list_objects_v2_request("b", "a b/", "/", Some("tok"));
        assert_eq!(page.method, Method::GET);
        assert_eq!(
            query(&page),
            pairs(&[
                ("list-type", "2"),
                ("max-keys", "1000"),
                ("encoding-type", "url"),
                ("prefix", "a b/"),
                ("delimiter", "/"),
                ("continuation-token", "tok")
            ])
        );
        assert_eq!(query(&list_objects_v2_request("b", "", "", None)).len(), 3);
    }

    // The samples follow the response examples in Alibaba Cloud's OSS API reference.

    #[test]
    fn list_buckets_sample() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult>
  <Prefix>my</Prefix>
  <Marker>mybucket</Marker>
  <MaxKeys>10</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextMarker>mybucket10</NextMarker>
  <Owner>
    <ID>512**</ID>
    <DisplayName>51264</DisplayName>
  </Owner>
  <Buckets>
    <Bucket>
      <CreationDate>2014-05-14T11:18:32.000Z</CreationDate>
      <ExtranetEndpoint>oss-cn-hangzhou.aliyuncs.com</ExtranetEndpoint>
      <IntranetEndpoint>oss-cn-hangzhou-internal.aliyuncs.com</IntranetEndpoint>
      <Location>oss-cn-hangzhou</Location>
      <Name>mybucket01</Name>
      <Region>cn-hangzhou</Region>
      <StorageClass>Standard</StorageClass>
    </Bucket>
    <Bucket>
      <Location>oss-cn-shanghai</Location>
      <Name>old</Name>
    </Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let r: ListAllMyBucketsResult = from_xml(body).unwrap();
        assert!(r.is_truncated);
        assert_eq!(r.next_marker, "mybucket10");
        assert_eq!(r.buckets.buckets.len(), 2);
        assert_eq!(r.buckets.buckets[0].signing_region(), "cn-hangzhou");
        assert_eq!(r.buckets.buckets[1].signing_region(), "cn-shanghai");
        let back: ListAllMyBucketsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let empty: ListAllMyBucketsResult =
            from_xml("<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>").unwrap();
        assert!(empty.buckets.buckets.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn bucket_info_and_location_samples() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<BucketInfo>
  <Bucket>
    <AccessMonitor>Enabled</AccessMonitor>
    <CreationDate>2013-07-31T10:56:21.000Z</CreationDate>
    <ExtranetEndpoint>oss-cn-hangzhou.aliyuncs.com</ExtranetEndpoint>
    <IntranetEndpoint>oss-cn-hangzhou-internal.aliyuncs.com</IntranetEndpoint>
    <Location>oss-cn-hangzhou</Location>
    <StorageClass>Standard</StorageClass>
    <Name>oss-example</Name>
    <Owner><DisplayName>username</DisplayName><ID>27183473914****</ID></Owner>
    <AccessControlList><Grant>private</Grant></AccessControlList>
  </Bucket>
</BucketInfo>"#;
        let r: BucketInfoResult = from_xml(body).unwrap();
        assert_eq!(r.bucket.name, "oss-example");
        assert_eq!(r.bucket.signing_region(), "cn-hangzhou");
        assert!(!r.bucket.is_public_read());
        let back: BucketInfoResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(back, r);

        let loc: LocationConstraint = from_xml(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<LocationConstraint xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">oss-cn-hangzhou</LocationConstraint>"#,
        )
        .unwrap();
        assert_eq!(loc.location, "oss-cn-hangzhou");
        let written = to_xml(&loc).unwrap();
        assert!(
            written.ends_with("<LocationConstraint>oss-cn-hangzhou</LocationConstraint>"),
            "{written}"
        );
    }

    #[test]
    fn list_objects_v2_sample_with_url_encoding() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
    <Name>examplebucket</Name>
    <Prefix>a%20b/</Prefix>
    <MaxKeys>2</MaxKeys>
    <EncodingType>url</EncodingType>
    <Delimiter>%2F</Delimiter>
    <IsTruncated>true</IsTruncated>
    <NextContinuationToken>CgJiYw--</NextContinuationToken>
    <Contents>
        <Key>a%20b/%E4%B8%AD.txt</Key>
        <LastModified>2020-06-22T11:42:32.000Z</LastModified>
        <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE1****"</ETag>
        <Type>Normal</Type>
        <Size>344606</Size>
        <StorageClass>Standard</StorageClass>
    </Contents>
    <CommonPrefixes>
        <Prefix>a%20b/sub/</Prefix>
    </CommonPrefixes>
    <KeyCount>2</KeyCount>
</ListBucketResult>"#;
        let mut r: ListBucketResult = from_xml(body).unwrap();
        r.decode_url_encoding();
        assert_eq!(r.prefix, "a b/");
        assert_eq!(r.delimiter, "/");
        assert_eq!(r.contents[0].key, "a b/中.txt");
        assert_eq!(r.contents[0].size, 344606);
        assert_eq!(r.common_prefixes[0].prefix, "a b/sub/");
        assert_eq!(r.key_count, Some(2));
        assert_eq!(r.next_continuation_token.as_deref(), Some("CgJiYw--"));
        let mut again = r.clone();
        again.encode_url_encoding();
        let mut back: ListBucketResult = from_xml(&to_xml(&again).unwrap()).unwrap();
        back.decode_url_encoding();
        assert_eq!(back, r);
    }

    #[test]
    fn folder_markers() {
        let f = ObjectSummary {
            key: "photos/".into(),
            ..Default::default()
        };
        assert!(f.is_folder_marker());
        let file = ObjectSummary {
            key: "photos/a.jpg".into(),
            size: 3,
            ..Default::default()
        };
        assert!(!file.is_folder_marker());
    }
}
