//! The local server's reading of a request's signature: the Authorization header (V1 and V4)
//! and the `x-oss-date` stamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oss_uploader::local_server::parse_authorization;
use oss_uploader::oss::sign::{parse_v4_datetime, v4_datetime};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = parse_authorization(&s);
    if let Some(t) = parse_v4_datetime(&s) {
        // A date that reads writes back as one that reads the same.
        assert_eq!(parse_v4_datetime(&v4_datetime(t).0), Some(t));
    }
});
