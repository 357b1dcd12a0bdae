//! The XML bodies OSS sends and accepts, as serde types shared by the client (which reads
//! answers) and the local server (which writes them). Unknown elements are ignored so a newer
//! OSS that adds fields does not break us.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The declaration OSS puts in front of every XML body.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Why an XML body could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(String);

/// Parses an XML body into `T`.
pub fn from_xml<T: DeserializeOwned>(body: &str) -> Result<T, XmlError> {
    quick_xml::de::from_str(body).map_err(|e| XmlError(e.to_string()))
}

/// Writes `T` as an XML document with the declaration in front.
pub fn to_xml<T: Serialize>(value: &T) -> Result<String, XmlError> {
    let body = quick_xml::se::to_string(value).map_err(|e| XmlError(e.to_string()))?;
    Ok(format!("{XML_DECLARATION}\n{body}"))
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// The body of CompleteMultipartUpload: the parts, in ascending order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CompleteMultipartUpload")]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletePart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    #[serde(default)]
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
pub struct ListPartsResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    #[serde(default)]
    pub part_number_marker: String,
    /// Empty or absent on the last page.
    #[serde(default)]
    pub next_part_number_marker: String,
    #[serde(default)]
    pub max_parts: String,
    #[serde(default)]
    pub is_truncated: bool,
    #[serde(rename = "Part", default)]
    pub parts: Vec<PartSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartSummary {
    pub part_number: u32,
    #[serde(default)]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    /// Decimal CRC-64; older OSS deployments leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_crc64ecma: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListMultipartUploadsResult", rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    pub bucket: String,
    #[serde(default)]
    pub key_marker: String,
    #[serde(default)]
    pub upload_id_marker: String,
    #[serde(default)]
    pub next_key_marker: String,
    #[serde(default)]
    pub next_upload_id_marker: String,
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub max_uploads: String,
    #[serde(default)]
    pub is_truncated: bool,
    #[serde(rename = "Upload", default)]
    pub uploads: Vec<UploadSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadSummary {
    pub key: String,
    pub upload_id: String,
    /// ISO 8601, e.g. `2012-02-23T04:18:23.000Z`.
    #[serde(default)]
    pub initiated: String,
}

/// The body of PutBucket, naming the storage class of a new bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CreateBucketConfiguration", rename_all = "PascalCase")]
pub struct CreateBucketConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// An error answer: `<Error><Code/><Message/><RequestId/><HostId/><EC/>…</Error>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Error", rename_all = "PascalCase")]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub host_id: String,
    #[serde(rename = "EC", default, skip_serializing_if = "String::is_empty")]
    pub ec: String,
    /// Present with `RequestTimeTooSkewed`: the server's clock, ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_allowed_skew_milliseconds: Option<String>,
    /// Present with `SignatureDoesNotMatch`: what the server signed, to help debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_to_sign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_request: Option<String>,
    /// Present when the bucket lives elsewhere ("must be addressed using the specified
    /// endpoint"): the endpoint to use, `oss-cn-shanghai.aliyuncs.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // The samples below follow the response examples in Alibaba Cloud's OSS API reference.

    #[test]
    fn initiate_sample() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>oss-example</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>
</InitiateMultipartUploadResult>"#;
        let r: InitiateMultipartUploadResult = from_xml(body).unwrap();
        assert_eq!(r.bucket, "oss-example");
        assert_eq!(r.key, "multipart.data");
        assert_eq!(r.upload_id, "0004B9894A22E5B1888A1E29F823****");
        let back: InitiateMultipartUploadResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn complete_request_matches_documented_shape() {
        let req = CompleteMultipartUpload {
            parts: vec![
                CompletePart {
                    part_number: 1,
                    etag: "\"3349DC700140D7F86A0784842780****\"".into(),
                },
                CompletePart {
                    part_number: 5,
                    etag: "\"8EFDA8BE206636A695359836FE0A****\"".into(),
                },
            ],
        };
        let xml = to_xml(&req).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"3349DC700140D7F86A0784842780****\"</ETag></Part><Part><PartNumber>5</PartNumber><ETag>\"8EFDA8BE206636A695359836FE0A****\"</ETag></Part></CompleteMultipartUpload>"
        );
        let sample = r#"<CompleteMultipartUpload>
  <Part><PartNumber>1</PartNumber><ETag>"3349DC700140D7F86A0784842780****"</ETag></Part>
  <Part><PartNumber>5</PartNumber><ETag>"8EFDA8BE206636A695359836FE0A****"</ETag></Part>
</CompleteMultipartUpload>"#;
        assert_eq!(from_xml::<CompleteMultipartUpload>(sample).unwrap(), req);
        assert_eq!(
            from_xml::<CompleteMultipartUpload>("<CompleteMultipartUpload/>")
                .unwrap()
                .parts,
            vec![]
        );
    }

    #[test]
    fn complete_result_sample() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Location>http://oss-example.oss-cn-hangzhou.aliyuncs.com /multipart.data</Location>
    <Bucket>oss-example</Bucket>
    <Key>multipart.data</Key>
    <ETag>"B864DB6A936D376F9F8D3ED3BBE540****"</ETag>
</CompleteMultipartUploadResult>"#;
        let r: CompleteMultipartUploadResult = from_xml(body).unwrap();
        assert_eq!(r.bucket, "oss-example");
        assert_eq!(r.etag, "\"B864DB6A936D376F9F8D3ED3BBE540****\"");
    }

    #[test]
    fn list_parts_sample() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>multipart_upload</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>
    <NextPartNumberMarker>5</NextPartNumberMarker>
    <MaxParts>1000</MaxParts>
    <IsTruncated>false</IsTruncated>
    <Part>
        <PartNumber>1</PartNumber>
        <LastModified>2012-02-23T07:01:34.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <HashCrc64ecma>1054545366040706****</HashCrc64ecma>
        <Size>6291456</Size>
    </Part>
    <Part>
        <PartNumber>2</PartNumber>
        <LastModified>2012-02-23T07:01:12.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <Size>6291456</Size>
    </Part>
    <Part>
        <PartNumber>5</PartNumber>
        <LastModified>2012-02-23T07:02:03.000Z</LastModified>
        <ETag>"7265F4D211B56873A381D321F586****"</ETag>
        <HashCrc64ecma>10545453660407068154</HashCrc64ecma>
        <Size>1024</Size>
    </Part>
</ListPartsResult>"#;
        // The documented sample masks part of the first CRC with '*'; a real answer is a number.
        let body = body.replace("1054545366040706****", "10545453660407061234");
        let r: ListPartsResult = from_xml(&body).unwrap();
        assert_eq!(r.upload_id, "0004B999EF5A239BB9138C6227D6****");
        assert!(!r.is_truncated);
        assert_eq!(r.next_part_number_marker, "5");
        assert_eq!(r.parts.len(), 3);
        assert_eq!(r.parts[0].hash_crc64ecma, Some(10545453660407061234));
        assert_eq!(r.parts[1].hash_crc64ecma, None);
        assert_eq!(r.parts[2].part_number, 5);
        assert_eq!(r.parts[2].size, 1024);
        let back: ListPartsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn list_parts_empty_and_truncated() {
        let body = r#"<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>
            <PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker></NextPartNumberMarker>
            <MaxParts>1000</MaxParts><IsTruncated>true</IsTruncated></ListPartsResult>"#;
        let r: ListPartsResult = from_xml(body).unwrap();
        assert!(r.is_truncated);
        assert!(r.parts.is_empty());
        assert_eq!(r.next_part_number_marker, "");
    }

    #[test]
    fn list_uploads_sample() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>oss-example</Bucket>
    <KeyMarker></KeyMarker>
    <UploadIdMarker></UploadIdMarker>
    <NextKeyMarker>oss.avi</NextKeyMarker>
    <NextUploadIdMarker>0004B99B8E707874FC2D692FA5D7****</NextUploadIdMarker>
    <Delimiter></Delimiter>
    <Prefix></Prefix>
    <MaxUploads>1000</MaxUploads>
    <IsTruncated>false</IsTruncated>
    <Upload>
        <Key>multipart.data</Key>
        <UploadId>0004B999EF518A1FE585B0C9360D****</UploadId>
        <Initiated>2012-02-23T04:18:23.000Z</Initiated>
    </Upload>
    <Upload>
        <Key>multipart.data</Key>
        <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>
        <Initiated>2012-02-23T04:18:23.000Z</Initiated>
    </Upload>
    <Upload>
        <Key>oss.avi</Key>
        <UploadId>0004B99B8E707874FC2D692FA5D7****</UploadId>
        <Initiated>2012-02-23T06:14:27.000Z</Initiated>
    </Upload>
</ListMultipartUploadsResult>"#;
        let r: ListMultipartUploadsResult = from_xml(body).unwrap();
        assert_eq!(r.uploads.len(), 3);
        assert_eq!(r.uploads[2].key, "oss.avi");
        assert_eq!(r.next_upload_id_marker, "0004B99B8E707874FC2D692FA5D7****");
        assert_eq!(r.prefix, "");
        let back: ListMultipartUploadsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn error_samples() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>AccessDenied</Code>
  <Message>Query-string authentication requires the Signature, Expires and OSSAccessKeyId parameters</Message>
  <RequestId>1D842BC54255****</RequestId>
  <HostId>oss-cn-hangzhou.aliyuncs.com</HostId>
  <EC>0003-00000001</EC>
</Error>"#;
        let e: ErrorBody = from_xml(body).unwrap();
        assert_eq!(e.code, "AccessDenied");
        assert_eq!(e.request_id, "1D842BC54255****");
        assert_eq!(e.ec, "0003-00000001");

        let skew = r#"<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message>
<RequestId>5C3D9175B6FC201293AD****</RequestId><HostId>test.oss-cn-zhangjiakou.aliyuncs.com</HostId>
<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>
<RequestTime>2019-01-11T07:13:58.000Z</RequestTime><ServerTime>2019-01-15T07:22:27.000Z</ServerTime>
<EC>0002-00000504</EC></Error>"#;
        let e: ErrorBody = from_xml(skew).unwrap();
        assert_eq!(e.server_time.as_deref(), Some("2019-01-15T07:22:27.000Z"));
        assert_eq!(e.max_allowed_skew_milliseconds.as_deref(), Some("900000"));

        let written = to_xml(&ErrorBody {
            code: "NoSuchKey".into(),
            message: "The specified key does not exist.".into(),
            request_id: "r".into(),
            host_id: "h".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(written.starts_with(XML_DECLARATION), "{written}");
        assert!(
            written.contains("<Error><Code>NoSuchKey</Code>"),
            "{written}"
        );
        assert!(!written.contains("<EC>"), "{written}");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(from_xml::<ErrorBody>("<html>502 Bad Gateway</html>").is_err());
        assert!(from_xml::<InitiateMultipartUploadResult>("not xml").is_err());
    }
}
