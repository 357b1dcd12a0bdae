//! Property tests over every parser that reads outside data (issue 9): the XML answers OSS
//! sends, checkpoint files, the window's queue file, sizes, endpoints, `--fault` rules, and the
//! local server's reading of requests (the Authorization header, dates, query strings, header
//! values, raw HTTP). Each must never panic on any input, and where there is a writer, what it
//! writes reads back the same. Case counts are bounded so the file runs in seconds on stable;
//! `fuzz/` has the same targets for long coverage-guided runs with `cargo fuzz`.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oss_uploader::engine::checkpoint::{
    Checkpoint, CheckpointId, CheckpointStore, FinishedPart, ObjectOptions,
};
use oss_uploader::engine::plan::UploadPlan;
use oss_uploader::engine::{EngineConfig, EngineSettings, Event, spawn};
use oss_uploader::local_server::{Authorization, parse_authorization, parse_duration, parse_fault};
use oss_uploader::oss::endpoint::Endpoint;
use oss_uploader::oss::error::ServiceError;
use oss_uploader::oss::sign::{
    Credentials, RequestParts, Resource, parse_v4_datetime, sign_v4, v4_datetime,
};
use oss_uploader::oss::xml::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, CompletePart, ErrorBody,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, PartSummary,
    UploadSummary, from_xml, to_xml,
};
use oss_uploader::units::{human_bytes, parse_size};
use proptest::prelude::*;

mod common;
use common::TestServer;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is reported with its input; no file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text a parser may meet: any Unicode, or mostly markup and digits.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[<>/=\"' a-zA-Z0-9&;#:._-]{0,200}",
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// An edit to a valid sample: (where, byte, kind).
fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..8)
}

/// `sample` with `edits` applied: bytes replaced, inserted, removed, or the rest cut off.
fn mutate(sample: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut b = sample.as_bytes().to_vec();
    for &(at, byte, kind) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = at % b.len();
        match kind {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            2 => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Valid answers, as OSS documents them.
const XML_SAMPLES: &[&str] = &[
    r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com"><Bucket>oss-example</Bucket><Key>multipart.data</Key><UploadId>0004B9894A22E5B1888A1E29F823****</UploadId></InitiateMultipartUploadResult>"#,
    r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult><Location>http://oss-example.oss-cn-hangzhou.aliyuncs.com/multipart.data</Location><Bucket>oss-example</Bucket><Key>multipart.data</Key><ETag>"B864DB6A936D376F9F8D3ED3BBE540****"</ETag></CompleteMultipartUploadResult>"#,
    r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><PartNumberMarker></PartNumberMarker><NextPartNumberMarker>5</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber><LastModified>2012-02-23T07:01:34.000Z</LastModified><ETag>"3349DC700140D7F86A0784842780****"</ETag><HashCrc64ecma>1234</HashCrc64ecma><Size>6291456</Size></Part><Part><PartNumber>2</PartNumber><ETag>"x"</ETag><Size>1024</Size></Part></ListPartsResult>"#,
    r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker><Delimiter>/</Delimiter><Prefix></Prefix><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated><Upload><Key>k1</Key><UploadId>u1</UploadId><Initiated>2012-02-23T04:18:23.000Z</Initiated></Upload></ListMultipartUploadsResult>"#,
    r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestId>5C3D8D2A0ACA54D87B43****</RequestId><HostId>b.oss-cn-hangzhou.aliyuncs.com</HostId><EC>0002-00000504</EC><ServerTime>2019-01-15T07:21:14.000Z</ServerTime><RequestTime>2019-01-15T06:05:44.000Z</RequestTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>"#,
    r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part><Part><PartNumber>5</PartNumber><ETag>"b"</ETag></Part></CompleteMultipartUpload>"#,
];

/// Feeds `body` to every XML reader the client and the server have.
fn read_all_xml(body: &str) {
    let _ = from_xml::<InitiateMultipartUploadResult>(body);
    let _ = from_xml::<CompleteMultipartUploadResult>(body);
    let _ = from_xml::<ListPartsResult>(body);
    let _ = from_xml::<ListMultipartUploadsResult>(body);
    let _ = from_xml::<ErrorBody>(body);
    let _ = from_xml::<CompleteMultipartUpload>(body);
    for status in [200, 400, 403, 404, 500, 503] {
        let e = ServiceError::from_response(status, Some("rid"), body, 1_700_000_000);
        // An error always says something a person can read.
        assert!(e.status == status);
    }
}

// ---------------------------------------------------------------------------------------------
// XML answers.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn xml_readers_never_panic(body in text()) {
        read_all_xml(&body);
    }

    #[test]
    fn xml_readers_never_panic_on_damaged_answers(
        sample in 0..XML_SAMPLES.len(),
        edits in edits(),
    ) {
        read_all_xml(&mutate(XML_SAMPLES[sample], &edits));
    }

    #[test]
    fn head_error_headers_never_panic(value in text(), status in 100u16..600) {
        use base64::Engine as _;
        let _ = ServiceError::from_head(status, Some("rid"), Some(&value), 0);
        let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
        let _ = ServiceError::from_head(status, None, Some(&encoded), 0);
    }
}

/// Text OSS may put in an element: keys and ids with markup characters, white space and any
/// Unicode letter.
fn element_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9<>&\"'/._ \t中文é-]{0,30}"
}

fn part_summary() -> impl Strategy<Value = PartSummary> {
    (
        1u32..=10_000,
        element_text(),
        element_text(),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(part_number, last_modified, etag, size, crc)| PartSummary {
                part_number,
                last_modified,
                etag,
                size,
                hash_crc64ecma: crc,
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn list_parts_round_trips(
        bucket in element_text(),
        key in element_text(),
        upload_id in element_text(),
        next in element_text(),
        is_truncated in any::<bool>(),
        parts in proptest::collection::vec(part_summary(), 0..20),
    ) {
        let r = ListPartsResult {
            bucket,
            key,
            upload_id,
            part_number_marker: String::new(),
            next_part_number_marker: next,
            max_parts: "1000".into(),
            is_truncated,
            parts,
        };
        let back: ListPartsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn list_uploads_round_trips(
        bucket in element_text(),
        next_key in element_text(),
        uploads in proptest::collection::vec((element_text(), element_text(), element_text()), 0..20),
    ) {
        let r = ListMultipartUploadsResult {
            bucket,
            next_key_marker: next_key,
            is_truncated: !uploads.is_empty(),
            uploads: uploads
                .into_iter()
                .map(|(key, upload_id, initiated)| UploadSummary { key, upload_id, initiated })
                .collect(),
            ..Default::default()
        };
        let back: ListMultipartUploadsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn initiate_complete_and_error_round_trip(
        a in element_text(),
        b in element_text(),
        c in element_text(),
        parts in proptest::collection::vec((1u32..=10_000, element_text()), 0..20),
    ) {
        let i = InitiateMultipartUploadResult { bucket: a.clone(), key: b.clone(), upload_id: c.clone() };
        prop_assert_eq!(from_xml::<InitiateMultipartUploadResult>(&to_xml(&i).unwrap()).unwrap(), i);
        let done = CompleteMultipartUploadResult { location: a.clone(), bucket: b.clone(), key: c.clone(), etag: a.clone() };
        prop_assert_eq!(from_xml::<CompleteMultipartUploadResult>(&to_xml(&done).unwrap()).unwrap(), done);
        let body = CompleteMultipartUpload {
            parts: parts.into_iter().map(|(part_number, etag)| CompletePart { part_number, etag }).collect(),
        };
        prop_assert_eq!(from_xml::<CompleteMultipartUpload>(&to_xml(&body).unwrap()).unwrap(), body);
        let e = ErrorBody { code: a, message: b, request_id: c, ..Default::default() };
        prop_assert_eq!(from_xml::<ErrorBody>(&to_xml(&e).unwrap()).unwrap(), e);
    }
}

/// White space around a key survives: OSS allows keys like `" a "`, and an answer naming one
/// must not be read as another key.
#[test]
fn xml_keeps_white_space_around_text() {
    let r = ListMultipartUploadsResult {
        bucket: "b".into(),
        uploads: vec![UploadSummary {
            key: " a \t".into(),
            upload_id: "u".into(),
            initiated: String::new(),
        }],
        ..Default::default()
    };
    let back: ListMultipartUploadsResult = from_xml(&to_xml(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint files.

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    let part_size = prop_oneof![Just(100 * 1024u64), 100 * 1024..=64 * 1024 * 1024u64];
    (part_size, 2u64..=10_000, any::<u64>())
        .prop_flat_map(|(part_size, count, extra)| {
            // A file that needs exactly `count` parts of `part_size`.
            let size = part_size * (count - 1) + 1 + extra % part_size;
            let plan = UploadPlan::new(size, part_size).unwrap();
            let numbers = proptest::sample::subsequence(
                (1..=plan.part_count()).collect::<Vec<u32>>(),
                0..=(plan.part_count() as usize).min(40),
            );
            (
                Just((size, part_size)),
                numbers,
                "[^\u{0}]{1,40}",
                "[^\u{0}]{1,40}",
                "[^\u{0}]{1,40}",
                proptest::collection::vec(any::<u8>(), 1..60),
                any::<i64>(),
                proptest::collection::btree_map("[a-z0-9-]{1,10}", any::<String>(), 0..4),
                any::<bool>(),
            )
        })
        .prop_map(
            |((size, part_size), numbers, endpoint, bucket, key, path, mtime, metadata, flag)| {
                use std::os::unix::ffi::OsStringExt as _;
                let plan = UploadPlan::new(size, part_size).unwrap();
                let parts = numbers
                    .into_iter()
                    .map(|n| FinishedPart {
                        number: n,
                        size: plan.part(n).unwrap().len,
                        etag: format!("\"{n:032X}\""),
                        crc64: u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                        md5_checked: n % 2 == 0,
                    })
                    .collect();
                Checkpoint {
                    endpoint,
                    bucket,
                    key,
                    local_path: PathBuf::from(std::ffi::OsString::from_vec(path)),
                    file_size: size,
                    file_mtime_ns: mtime,
                    file_id: None,
                    part_size,
                    upload_id: "18EB985210FE91A2FFA1515FFE18BAB7".into(),
                    signature_version: if flag {
                        oss_uploader::oss::sign::SignatureVersion::V4
                    } else {
                        oss_uploader::oss::sign::SignatureVersion::V1
                    },
                    region: flag.then(|| "cn-hangzhou".into()),
                    path_style: !flag,
                    parts,
                    options: ObjectOptions {
                        content_type: Some("text/plain".into()),
                        metadata,
                        forbid_overwrite: flag,
                        ..Default::default()
                    },
                    created_unix_ms: mtime / 1_000_000,
                    updated_unix_ms: mtime / 1_000_000,
                }
            },
        )
}

/// Loads `bytes` as the record named `id` in a store: every check `resume` makes.
fn load_bytes(store: &CheckpointStore, id: &CheckpointId, bytes: &[u8]) {
    std::fs::write(store.path_of(id), bytes).unwrap();
    if let Ok(cp) = store.load(id) {
        // What loads is a record the engine can follow.
        assert!(cp.plan().is_ok());
        assert!(cp.parts.windows(2).all(|w| w[0].number < w[1].number));
    }
    let _ = store.list().unwrap();
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn checkpoints_round_trip_and_survive_damage(cp in checkpoint(), edits in edits()) {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let id = store.save(&cp).unwrap();
        prop_assert_eq!(store.load(&id).unwrap(), cp);
        let saved = std::fs::read_to_string(store.path_of(&id)).unwrap();
        load_bytes(&store, &id, mutate(&saved, &edits).as_bytes());
    }

    #[test]
    fn checkpoint_loading_never_panics(bytes in text()) {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let id = CheckpointId::parse("0123456789abcdef").unwrap();
        load_bytes(&store, &id, bytes.as_bytes());
        // The same junk inside a well-formed envelope, and a record with odd numbers.
        let wrapped = format!(r#"{{"version":1,"checksum":"00","checkpoint":{bytes:?}}}"#);
        load_bytes(&store, &id, wrapped.as_bytes());
    }

    #[test]
    fn checkpoint_ids_parse_only_what_they_write(s in text()) {
        if let Some(id) = CheckpointId::parse(&s) {
            prop_assert_eq!(id.as_str(), s.as_str());
            prop_assert!(!s.contains('/') && !s.contains('.'));
        }
    }
}

/// A record whose numbers are at the edges of their types, checksum recomputed so the checks
/// past the checksum run too.
#[test]
fn checkpoints_with_extreme_numbers_are_refused_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path()).unwrap();
    let edges: [u64; 7] = [
        0,
        1,
        100 * 1024,
        u32::MAX as u64,
        i64::MAX as u64,
        u64::MAX - 1,
        u64::MAX,
    ];
    for &file_size in &edges {
        for &part_size in &edges {
            for &number in &[0u64, 1, 10_000, 10_001, u32::MAX as u64] {
                let cp = serde_json::json!({
                    "endpoint": "http://127.0.0.1:1", "bucket": "b", "key": "k",
                    "local_path": "/tmp/x", "file_size": file_size, "file_mtime_ns": 0,
                    "part_size": part_size, "upload_id": "u", "signature_version": "v4",
                    "region": null, "path_style": true,
                    "parts": [{"number": number, "size": part_size, "etag": "e", "crc64": 0}],
                    "options": {"content_type": null, "acl": null, "storage_class": null,
                        "metadata": {}, "callback": null, "callback_var": null,
                        "forbid_overwrite": false},
                    "created_unix_ms": 0, "updated_unix_ms": 0
                });
                let Ok(parsed) = serde_json::from_value::<Checkpoint>(cp.clone()) else {
                    continue;
                };
                // The envelope as the store writes it, via a save when the record is valid.
                let id = parsed.id();
                let canonical = serde_json::to_vec(&parsed).unwrap();
                let checksum = {
                    use sha2::Digest as _;
                    let d = sha2::Sha256::digest(&canonical);
                    d.iter().map(|b| format!("{b:02x}")).collect::<String>()
                };
                let envelope =
                    serde_json::json!({"version": 1, "checksum": checksum, "checkpoint": cp});
                load_bytes(&store, &id, envelope.to_string().as_bytes());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The window's queue file, read by the real engine at start.

/// Starts an engine whose data folder holds `queue` as its queue file, stops it, and returns
/// what it said. Fails when the engine thread died instead of stopping.
fn restore(queue: &[u8]) -> Vec<Event> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("queue.json"), queue).unwrap();
    let handle = spawn(
        EngineConfig {
            data_dir: dir.path().to_owned(),
            credentials: None,
            settings: EngineSettings::default(),
            persist_queue: true,
            resume_when_online: false,
        },
        Arc::new(|| {}),
    )
    .unwrap();
    handle.send(oss_uploader::engine::Command::Shutdown);
    let mut events = Vec::new();
    loop {
        match handle.events.recv_timeout(Duration::from_secs(20)) {
            Ok(Event::Stopped) => return events,
            Ok(e) => events.push(e),
            Err(e) => panic!(
                "the engine thread ended without stopping ({e}); it said {events:?} about {}",
                String::from_utf8_lossy(queue)
            ),
        }
    }
}

fn stored_job(id: u64, state: &str, part_size: u64, threads: u64, size: u64) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "spec": {
            "path": "/tmp/none/file.bin",
            "connection": {"endpoint": "http://127.0.0.1:9", "region": "cn-hangzhou",
                           "signature": "v4", "path_style": true},
            "bucket": "b", "key": "k", "part_size": part_size, "threads": threads,
            "options": {"content_type": null, "acl": null, "storage_class": null,
                        "metadata": {}, "callback": null, "callback_var": null,
                        "forbid_overwrite": false}
        },
        "size": size,
        "state": state,
        "error": null
    })
}

#[test]
fn a_queue_file_written_by_hand_restores_its_jobs() {
    let queue = serde_json::json!({
        "version": 1,
        "next_id": 8,
        "jobs": [stored_job(3, "uploading", 102_400, 2, 1000), stored_job(7, "done", 8 << 20, 3, 5)]
    });
    let events = restore(queue.to_string().as_bytes());
    let added: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Added(info) => Some((
                info.id,
                info.state,
                info.spec.part_size,
                info.spec.key.clone(),
            )),
            _ => None,
        })
        .collect();
    use oss_uploader::engine::JobState;
    assert_eq!(
        added,
        [
            (1, JobState::Interrupted, 102_400, "k".to_owned()),
            (2, JobState::Done, 8 << 20, "k".to_owned())
        ],
        "{events:?}"
    );
}

/// Ids at the top of their range: `id + 1` for the next id must not overflow.
#[test]
fn a_queue_file_with_the_largest_job_id_does_not_kill_the_engine() {
    let queue = serde_json::json!({
        "version": 1, "next_id": 1, "jobs": [stored_job(u64::MAX, "queued", 102_400, 2, 10)]
    });
    restore(queue.to_string().as_bytes());
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn queue_files_never_kill_the_engine(bytes in text()) {
        restore(bytes.as_bytes());
    }

    #[test]
    fn damaged_queue_files_never_kill_the_engine(
        ids in proptest::collection::vec(0u64..u64::MAX, 0..4),
        next_id in any::<u64>(),
        state in prop_oneof![
            Just("queued"), Just("uploading"), Just("paused"), Just("interrupted"),
            Just("verifying"), Just("done"), Just("skipped"), Just("failed"), Just("cancelled"),
            Just("exploded"),
        ],
        part_size in any::<u64>(),
        threads in any::<u64>(),
        size in any::<u64>(),
        edits in proptest::option::of(edits()),
    ) {
        let queue = serde_json::json!({
            "version": 1,
            "next_id": next_id,
            "jobs": ids.iter().map(|&id| stored_job(id, state, part_size, threads, size)).collect::<Vec<_>>(),
        })
        .to_string();
        let queue = match &edits {
            Some(e) => mutate(&queue, e),
            None => queue,
        };
        restore(queue.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Sizes, endpoints, fault rules.

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn sizes_never_panic(s in text()) {
        let _ = parse_size(&s);
    }

    #[test]
    fn sizes_read_back_what_they_say(n in any::<u64>(), unit in 0usize..9, space in any::<bool>()) {
        let units = [("", 1u64), ("B", 1), ("K", 1 << 10), ("KiB", 1 << 10), ("KB", 1000), ("MiB", 1 << 20), ("MB", 1_000_000), ("GiB", 1 << 30), ("TB", 1_000_000_000_000)];
        let (name, mult) = units[unit];
        let text = format!("{n}{}{name}", if space && !name.is_empty() { " " } else { "" });
        match n.checked_mul(mult) {
            Some(bytes) => prop_assert_eq!(parse_size(&text), Ok(bytes)),
            None => prop_assert!(parse_size(&text).is_err()),
        }
    }

    #[test]
    fn human_sizes_read_back_within_their_rounding(n in any::<u64>()) {
        let shown = human_bytes(n);
        // One decimal of the unit shown: off by at most a tenth of it.
        let unit = [1u64, 1 << 10, 1 << 20, 1 << 30, 1 << 40]
            .into_iter()
            .rev()
            .find(|u| n >= *u)
            .unwrap_or(1);
        match parse_size(&shown) {
            Ok(back) => prop_assert!(back.abs_diff(n) <= unit / 10 + 1, "{n} shown as {shown} reads back as {back}"),
            // Rounded up past the largest size there is.
            Err(_) => prop_assert!(n > u64::MAX - unit, "{n} shown as {shown} does not read back"),
        }
    }

    #[test]
    fn endpoints_never_panic_and_their_spelling_is_stable(
        s in prop_oneof![text(), "(https?://)?[a-zA-Z0-9.:\\[\\]_-]{0,40}/?"],
        bucket in "[a-z0-9-]{3,20}",
        key in text(),
    ) {
        if let Ok(e) = Endpoint::parse(&s) {
            let again = Endpoint::parse(&e.base_url()).unwrap();
            prop_assert_eq!(again.base_url(), e.base_url());
            let _ = e.region();
            let _ = e.host_name();
            let url = e.url(Some(&bucket), Some(&key), &[("uploadId".into(), key.clone())]);
            prop_assert!(reqwest::Url::parse(&url).is_ok(), "{url}");
        }
    }

    #[test]
    fn fault_rules_and_durations_never_panic(s in text()) {
        let _ = parse_fault(&s);
        let _ = parse_duration(&s);
    }
}

// ---------------------------------------------------------------------------------------------
// The local server's reading of requests.

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn authorization_headers_never_panic(s in prop_oneof![
        text(),
        "OSS4-HMAC-SHA256 [a-zA-Z=,/;_ -]{0,80}",
        "OSS [a-zA-Z0-9:]{0,40}",
    ]) {
        let _ = parse_authorization(&s);
        let _ = parse_v4_datetime(&s);
    }

    #[test]
    fn v4_dates_round_trip(t in 0i64..253_402_300_799) {
        let (datetime, _) = v4_datetime(t);
        prop_assert_eq!(parse_v4_datetime(&datetime), Some(t));
    }

    #[test]
    fn a_signed_authorization_header_reads_back(
        ak in "[A-Za-z0-9]{1,30}",
        region in "[a-z0-9-]{1,20}",
        t in 0i64..4_000_000_000,
    ) {
        let mut headers = http::HeaderMap::new();
        let parts = RequestParts {
            method: "PUT",
            resource: Resource::object("bucket", "key"),
            query: &[],
        };
        sign_v4(&parts, &mut headers, &Credentials::new(ak.clone(), "secret"), &region, t, &[]);
        let value = headers.get("authorization").unwrap().to_str().unwrap();
        match parse_authorization(value) {
            Some(Authorization::V4 { access_key_id, region: r, date, .. }) => {
                prop_assert_eq!(access_key_id, ak);
                prop_assert_eq!(r, region);
                prop_assert_eq!(date, v4_datetime(t).1);
            }
            other => prop_assert!(false, "{value} read as {other:?}"),
        }
    }
}

/// Sends raw bytes to the server and reads what comes back until it closes the connection;
/// `None` when it is still waiting after `wait` (for the rest of a head or a body). The write
/// side stays open: hyper drops a connection whose client half-closes it.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            None
        }
        _ => Some(answer),
    }
}

/// Whether the head of `request` promises more body than it carries.
fn promises_more_body(request: &[u8]) -> bool {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return true;
    };
    let body = request.len() - end - 4;
    String::from_utf8_lossy(&request[..end])
        .lines()
        .filter_map(|l| l.strip_prefix("content-length: "))
        .any(|v| v.trim().parse::<u128>().map_or(true, |n| n > body as u128))
}

/// A request line and headers built from parts the strategy chose, some of them hostile.
fn hostile_request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just("GET".to_owned()),
            Just("PUT".to_owned()),
            Just("POST".to_owned()),
            Just("DELETE".to_owned()),
            Just("HEAD".to_owned()),
            "[A-Z]{1,8}",
        ],
        prop_oneof![
            Just("/test-bucket/k".to_owned()),
            Just("/test-bucket".to_owned()),
            Just("/".to_owned()),
            "/[a-z0-9%/._?=&-]{0,60}",
            "/test-bucket/k\\?[a-zA-Z0-9%=&+-]{0,60}",
        ],
        proptest::collection::btree_map(
            prop_oneof![
                Just("authorization".to_owned()),
                Just("x-oss-date".to_owned()),
                Just("date".to_owned()),
                Just("content-md5".to_owned()),
                Just("x-oss-content-sha256".to_owned()),
                Just("x-oss-security-token".to_owned()),
                Just("range".to_owned()),
                Just("x-oss-forbid-overwrite".to_owned()),
                "x-oss-meta-[a-z]{1,8}",
            ],
            prop_oneof![
                "[ -~]{0,80}",
                "OSS4-HMAC-SHA256 Credential=test-ak/20260101/cn-hangzhou/oss/aliyun_v4_request,Signature=[0-9a-f]{0,64}",
                "OSS test-ak:[A-Za-z0-9+/=]{0,30}",
                "[0-9]{1,25}",
            ],
            0..6,
        ),
        proptest::collection::vec(any::<u8>(), 0..64),
        // Mostly the true length; sometimes a lie or not a number.
        prop_oneof![
            8 => Just(None),
            1 => "[0-9]{1,25}".prop_map(Some),
            1 => "[ -~]{0,10}".prop_map(Some),
        ],
    )
        .prop_map(|(method, target, headers, body, length)| {
            let mut r = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
            for (name, value) in &headers {
                r.push_str(&format!("{name}: {value}\r\n"));
            }
            let length = length.unwrap_or_else(|| body.len().to_string());
            r.push_str(&format!("content-length: {length}\r\n"));
            r.push_str("connection: close\r\n\r\n");
            let mut bytes = r.into_bytes();
            bytes.extend_from_slice(&body);
            bytes
        })
}

#[test]
fn the_local_server_answers_any_request_and_keeps_serving() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start());
    let addr = server.addr();
    let mut runner = proptest::test_runner::TestRunner::new(config(160));
    let result = runner.run(&hostile_request(), |request| {
        if promises_more_body(&request) {
            // The server rightly waits for the rest of the body: only its reading of the head
            // is exercised (a panic would show in the probe below and in the log).
            raw_exchange(addr, &request, Duration::from_millis(20));
            return Ok(());
        }
        // Every whole request gets a status line, or the connection closed on one hyper could
        // not read; a panic in a handler would close it without a word.
        let answer = raw_exchange(addr, &request, Duration::from_secs(10));
        prop_assert!(
            answer
                .as_ref()
                .is_some_and(|a| a.starts_with(b"HTTP/1.1 ") || a.is_empty()),
            "{request:?} got {:?}",
            answer.map(|a| String::from_utf8_lossy(&a).into_owned())
        );
        Ok(())
    });
    result.unwrap();
    // Still serving after all that.
    let probe = raw_exchange(
        addr,
        b"GET /test-bucket/none HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        probe.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&probe)
    );
    drop(server);
}

#[test]
fn the_local_server_answers_random_bytes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start());
    let addr = server.addr();
    let mut runner = proptest::test_runner::TestRunner::new(config(128));
    let result = runner.run(
        &proptest::collection::vec(any::<u8>(), 0..400),
        |mut bytes| {
            // An empty line ends whatever head the bytes began, so hyper must decide now.
            bytes.extend_from_slice(b"\r\n\r\n");
            if let Some(answer) = raw_exchange(addr, &bytes, Duration::from_secs(1)) {
                prop_assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 "));
            }
            Ok(())
        },
    );
    result.unwrap();
    let probe = raw_exchange(
        addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        probe.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&probe)
    );
    drop(server);
}
