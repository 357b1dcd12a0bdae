//! Every XML answer the client reads (and the Complete body the local server reads), and the
//! error a status and a body become, including HEAD's base64 `x-oss-err` header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oss_uploader::oss::error::ServiceError;
use oss_uploader::oss::xml::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, ErrorBody,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, from_xml, to_xml,
};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let _ = from_xml::<InitiateMultipartUploadResult>(&body);
    let _ = from_xml::<CompleteMultipartUploadResult>(&body);
    let _ = from_xml::<ErrorBody>(&body);
    if let Ok(r) = from_xml::<ListPartsResult>(&body) {
        // What was read writes back and reads the same.
        let again: ListPartsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }
    if let Ok(r) = from_xml::<ListMultipartUploadsResult>(&body) {
        let again: ListMultipartUploadsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }
    let _ = from_xml::<CompleteMultipartUpload>(&body);
    let _ = ServiceError::from_response(403, Some("rid"), &body, 1_700_000_000);
    let _ = ServiceError::from_head(404, None, Some(&body), 0);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let _ = ServiceError::from_head(404, None, Some(&encoded), 0);
});
