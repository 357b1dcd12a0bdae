//! The checkpoint format and store: round trips, damage, checks against the file.

use super::store::{TEMP_PREFIX, TEMP_SUFFIX, canonical, checksum};
use super::*;
use crate::oss::limits::MIB;
use std::collections::BTreeMap;

fn sample(local_path: &Path) -> Checkpoint {
    let mut metadata = BTreeMap::new();
    metadata.insert("author".to_owned(), "小明".to_owned());
    metadata.insert("project".to_owned(), "q3".to_owned());
    Checkpoint {
        endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
        bucket: "photos".into(),
        key: "2024/旅行/video.mp4".into(),
        local_path: local_path.to_path_buf(),
        file_size: 20 * MIB + 7,
        file_mtime_ns: 1_700_000_000_123_456_789,
        file_id: None,
        part_size: 8 * MIB,
        upload_id: "0004B9894A22E5B1888A1E29F823****".into(),
        signature_version: SignatureVersion::V4,
        region: Some("cn-hangzhou".into()),
        path_style: false,
        parts: vec![
            FinishedPart {
                number: 1,
                size: 8 * MIB,
                etag: "\"A1\"".into(),
                crc64: 11_051_210_869_376_104_954,
                md5_checked: false,
            },
            FinishedPart {
                number: 3,
                size: 4 * MIB + 7,
                etag: "\"C3\"".into(),
                crc64: 7,
                md5_checked: false,
            },
        ],
        options: ObjectOptions {
            content_type: Some("video/mp4".into()),
            acl: Some("private".into()),
            storage_class: Some("IA".into()),
            metadata,
            callback: Some("eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9leGFtcGxlLmNvbSJ9".into()),
            callback_var: Some("eyJ4OnYiOiIxIn0=".into()),
            forbid_overwrite: true,
        },
        created_unix_ms: 1_700_000_000_000,
        updated_unix_ms: 1_700_000_100_000,
    }
}

fn store() -> (tempfile::TempDir, CheckpointStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(tmp.path()).unwrap();
    (tmp, store)
}

#[test]
fn round_trip() {
    let (tmp, store) = store();
    assert_eq!(store.dir(), tmp.path().join("checkpoints"));
    let cp = sample(Path::new("/home/u/video.mp4"));
    let id = store.save(&cp).unwrap();
    assert_eq!(id, cp.id());
    assert!(
        tmp.path()
            .join("checkpoints")
            .join(format!("{id}.json"))
            .is_file()
    );
    assert_eq!(store.load(&id).unwrap(), cp);
}

#[test]
fn id_is_stable_and_tells_uploads_apart() {
    let path = Path::new("/home/u/video.mp4");
    let id = CheckpointId::for_upload("oss-cn-hangzhou.aliyuncs.com", "photos", "a.mp4", path);
    // Pinned: changing how ids are made would orphan every record users already have.
    assert_eq!(id.as_str(), "c796ace427e93b17");
    assert_eq!(CheckpointId::parse(id.as_str()), Some(id.clone()));
    let others = [
        CheckpointId::for_upload("oss-cn-beijing.aliyuncs.com", "photos", "a.mp4", path),
        CheckpointId::for_upload("oss-cn-hangzhou.aliyuncs.com", "photo", "sa.mp4", path),
        CheckpointId::for_upload("oss-cn-hangzhou.aliyuncs.com", "photos", "b.mp4", path),
        CheckpointId::for_upload(
            "oss-cn-hangzhou.aliyuncs.com",
            "photos",
            "a.mp4",
            Path::new("/home/u/v.mp4"),
        ),
    ];
    for other in others {
        assert_ne!(other, id);
    }
    for bad in [
        "",
        "C796ACE427E93B17",
        "c796ace427e93b1",
        "../../etc/passwd",
        "c796ace427e93b1g",
    ] {
        assert_eq!(CheckpointId::parse(bad), None, "{bad}");
    }
}

#[test]
fn tampered_record_is_damaged() {
    let (_tmp, store) = store();
    let id = store.save(&sample(Path::new("/f"))).unwrap();
    let path = store.path_of(&id);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\\\"C3\\\""));
    std::fs::write(&path, text.replace("\\\"C3\\\"", "\\\"C4\\\"")).unwrap();
    let err = store.load(&id).unwrap_err();
    let CheckpointError::Damaged { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("checksum"), "{reason}");
}

#[test]
fn truncated_record_is_damaged() {
    let (_tmp, store) = store();
    let id = store.save(&sample(Path::new("/f"))).unwrap();
    let path = store.path_of(&id);
    let bytes = std::fs::read(&path).unwrap();
    for len in [0, 1, bytes.len() / 2, bytes.len() - 3] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = store.load(&id).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Damaged { .. }),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn other_versions_are_reported_as_such_and_newer_ones_left_alone() {
    let (_tmp, store) = store();
    let id = store.save(&sample(Path::new("/f"))).unwrap();
    let path = store.path_of(&id);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["version"] = 99.into();
    value["written_by"] = "oss-uploader 7.0.0".into();
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let err = store.load(&id).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Newer { found: 99, written_by, .. } if written_by == "oss-uploader 7.0.0"),
        "{err:?}"
    );
    assert!(err.to_string().contains("oss-uploader 7.0.0"), "{err}");

    value["version"] = 0.into();
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let err = store.load(&id).unwrap_err();
    assert!(
        matches!(err, CheckpointError::UnsupportedVersion { found: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("another version"), "{err}");

    value.as_object_mut().unwrap().remove("version");
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    assert!(matches!(
        store.load(&id),
        Err(CheckpointError::Damaged { .. })
    ));
}

#[test]
fn a_version_1_record_without_a_file_identity_still_loads() {
    let (_tmp, store) = store();
    let cp = sample(Path::new("/f"));
    assert_eq!(cp.file_id, None);
    // Exactly what version 1 wrote: no `written_by`, no `file_id`, the same checksum.
    let canonical = canonical(&cp).unwrap();
    let envelope = serde_json::json!({
        "version": 1,
        "checksum": checksum(&canonical),
        "checkpoint": serde_json::from_slice::<serde_json::Value>(&canonical).unwrap(),
    });
    assert!(!String::from_utf8_lossy(&canonical).contains("file_id"));
    std::fs::write(
        store.path_of(&cp.id()),
        serde_json::to_vec(&envelope).unwrap(),
    )
    .unwrap();
    assert_eq!(store.load(&cp.id()).unwrap(), cp);
}

#[test]
fn missing_record_is_not_found_and_delete_is_idempotent() {
    let (_tmp, store) = store();
    let cp = sample(Path::new("/f"));
    let id = cp.id();
    assert!(matches!(
        store.load(&id),
        Err(CheckpointError::NotFound { .. })
    ));
    store.save(&cp).unwrap();
    store.delete(&id).unwrap();
    assert!(matches!(
        store.load(&id),
        Err(CheckpointError::NotFound { .. })
    ));
    store.delete(&id).unwrap();
}

#[test]
fn record_under_another_name_is_damaged() {
    let (_tmp, store) = store();
    let id = store.save(&sample(Path::new("/f"))).unwrap();
    let other = sample(Path::new("/g")).id();
    std::fs::copy(store.path_of(&id), store.path_of(&other)).unwrap();
    assert!(matches!(
        store.load(&other),
        Err(CheckpointError::Damaged { .. })
    ));
}

#[test]
fn list_shows_damaged_records_and_skips_leftovers() {
    let (_tmp, store) = store();
    let good = store.save(&sample(Path::new("/a"))).unwrap();
    let bad = store.save(&sample(Path::new("/b"))).unwrap();
    std::fs::write(store.path_of(&bad), b"{\"version\": 1, \"chec").unwrap();
    // What a crash between creating and renaming the temporary file leaves behind.
    std::fs::write(
        store
            .dir()
            .join(format!("{TEMP_PREFIX}Xy12ab{TEMP_SUFFIX}")),
        b"{",
    )
    .unwrap();
    std::fs::write(store.dir().join("notes.txt"), b"hello").unwrap();
    std::fs::write(store.dir().join("0123.json"), b"{}").unwrap();

    let listed = store.list().unwrap();
    let ids: Vec<_> = listed.iter().map(|(id, _)| id.clone()).collect();
    let mut expected = vec![good.clone(), bad.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    for (id, result) in listed {
        if id == good {
            assert_eq!(result.unwrap(), sample(Path::new("/a")));
        } else {
            assert!(matches!(result, Err(CheckpointError::Damaged { .. })));
        }
    }
}

fn json_keys(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.to_lowercase());
                json_keys(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_keys(v, out)),
        _ => {}
    }
}

#[test]
fn no_secret_is_ever_written() {
    let (_tmp, store) = store();
    let id = store.save(&sample(Path::new("/f"))).unwrap();
    let text = std::fs::read_to_string(store.path_of(&id)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut keys = Vec::new();
    json_keys(&value, &mut keys);
    assert!(keys.contains(&"upload_id".to_owned()) && keys.contains(&"etag".to_owned()));
    for key in &keys {
        for word in [
            "secret",
            "token",
            "password",
            "credential",
            "authorization",
            "access_key",
        ] {
            assert!(!key.contains(word), "field {key} looks like a secret");
        }
    }
    let lower = text.to_lowercase();
    for word in ["secret", "security-token", "security_token", "accesskey"] {
        assert!(!lower.contains(word), "{word} in {text}");
    }
}

#[test]
fn concurrent_saves_leave_a_valid_record() {
    let (_tmp, store) = store();
    let base = sample(Path::new("/f"));
    let id = base.id();
    let versions: Vec<Checkpoint> = (0..8u32)
        .map(|t| {
            let mut cp = base.clone();
            cp.record_part(FinishedPart {
                number: 2,
                size: 8 * MIB,
                etag: format!("\"T{t}\""),
                crc64: u64::from(t),
                md5_checked: false,
            });
            cp.updated_unix_ms += i64::from(t);
            cp
        })
        .collect();
    std::thread::scope(|s| {
        for cp in &versions {
            let store = &store;
            s.spawn(move || {
                for _ in 0..25 {
                    store.save(cp).unwrap();
                }
            });
        }
    });
    let loaded = store.load(&id).unwrap();
    assert!(versions.contains(&loaded));
    let names: Vec<_> = std::fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from(format!("{id}.json"))]);
}

#[test]
fn inconsistent_record_is_refused_on_save_and_load() {
    let (_tmp, store) = store();
    let mut cp = sample(Path::new("/f"));
    cp.parts[1].size = 8 * MIB; // part 3 is the 4 MiB + 7 byte tail
    let err = store.save(&cp).unwrap_err();
    assert!(matches!(err, CheckpointError::Invalid { .. }), "{err:?}");

    let mut single = sample(Path::new("/f"));
    single.file_size = 8 * MIB;
    single.parts.clear();
    assert!(matches!(
        store.save(&single),
        Err(CheckpointError::Invalid { .. })
    ));

    // Written with a correct checksum but inconsistent contents: still refused on load.
    let id = cp.id();
    let canonical = canonical(&cp).unwrap();
    let envelope = serde_json::json!({
        "version": CHECKPOINT_VERSION,
        "checksum": checksum(&canonical),
        "checkpoint": serde_json::from_slice::<serde_json::Value>(&canonical).unwrap(),
    });
    std::fs::write(store.path_of(&id), serde_json::to_vec(&envelope).unwrap()).unwrap();
    let err = store.load(&id).unwrap_err();
    let CheckpointError::Damaged { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("part 3"), "{reason}");
}

#[test]
fn record_part_keeps_order_and_replaces() {
    let mut cp = sample(Path::new("/f"));
    cp.record_part(FinishedPart {
        number: 2,
        size: 8 * MIB,
        etag: "\"B\"".into(),
        crc64: 2,
        md5_checked: false,
    });
    cp.record_part(FinishedPart {
        number: 1,
        size: 8 * MIB,
        etag: "\"A2\"".into(),
        crc64: 1,
        md5_checked: false,
    });
    let numbers: Vec<_> = cp.parts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(cp.part(1).unwrap().etag, "\"A2\"");
    assert_eq!(cp.bytes_done(), 20 * MIB + 7);
    assert!(cp.validate().is_ok());
}

#[test]
fn file_check_sees_size_time_and_absence() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data.bin");
    std::fs::write(&path, vec![7u8; 1000]).unwrap();
    let stamp = FileStamp::of(&path).unwrap();
    let mut cp = sample(&path);
    cp.file_size = stamp.size;
    cp.file_mtime_ns = stamp.mtime_ns;
    cp.file_id = stamp.id;
    assert_eq!(cp.file_matches(&path).unwrap(), FileCheck::Unchanged);

    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
        .unwrap();
    drop(file);
    let FileCheck::Changed { what } = cp.file_matches(&path).unwrap() else {
        panic!()
    };
    assert_eq!(
        what,
        [FileChange::Modified {
            was_ns: stamp.mtime_ns,
            now_ns: 1_000_000_000_000_000_000
        }]
    );

    std::fs::write(&path, vec![7u8; 999]).unwrap();
    let FileCheck::Changed { what } = cp.file_matches(&path).unwrap() else {
        panic!()
    };
    assert_eq!(
        what[0],
        FileChange::Size {
            was: 1000,
            now: 999
        }
    );
    assert!(what[0].to_string().contains("1000 to 999"));

    assert_eq!(
        cp.file_matches(tmp.path()).unwrap(),
        FileCheck::Changed {
            what: vec![FileChange::NotAFile]
        }
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(cp.file_matches(&path).unwrap(), FileCheck::Missing);
}

#[test]
fn times_before_1970_are_negative() {
    let t = UNIX_EPOCH - std::time::Duration::from_millis(1500);
    assert_eq!(unix_ms(t), -1500);
    assert_eq!(unix_ns(t), -1_500_000_000);
    assert_eq!(unix_ns(UNIX_EPOCH + std::time::Duration::from_nanos(5)), 5);
}

#[cfg(unix)]
#[test]
fn path_that_is_not_unicode_survives() {
    use std::os::unix::ffi::OsStrExt;
    let (_tmp, store) = store();
    let odd = Path::new(std::ffi::OsStr::from_bytes(b"/data/\xff\xfename.bin"));
    let cp = sample(odd);
    let id = store.save(&cp).unwrap();
    assert_eq!(store.load(&id).unwrap().local_path, odd);
    assert_ne!(id, sample(Path::new("/data/\u{fffd}\u{fffd}name.bin")).id());
}
