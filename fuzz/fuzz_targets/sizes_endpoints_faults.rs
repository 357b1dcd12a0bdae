//! What people type: sizes (`--part-size`, `--limit-rate`, settings fields), endpoints, and the
//! local server's `--fault` rules and durations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oss_uploader::local_server::{parse_duration, parse_fault};
use oss_uploader::oss::endpoint::Endpoint;
use oss_uploader::units::{human_bytes, parse_size};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(n) = parse_size(&s) {
        let _ = human_bytes(n);
    }
    let _ = parse_fault(&s);
    let _ = parse_duration(&s);
    if let Ok(e) = Endpoint::parse(&s) {
        // Its own spelling reads back to itself.
        let again = Endpoint::parse(&e.base_url()).unwrap();
        assert_eq!(again.base_url(), e.base_url());
        let _ = e.region();
        let _ = e.url(
            Some("bucket"),
            Some(&s),
            &[("uploadId".into(), s.to_string())],
        );
    }
});
