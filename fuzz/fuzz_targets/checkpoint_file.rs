//! A checkpoint file as `resume` finds it on disk: loaded with every check, listed. What loads
//! must be a record the engine can follow.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oss_uploader::engine::checkpoint::{CheckpointId, CheckpointStore};

fn store() -> &'static (tempfile::TempDir, CheckpointStore) {
    static STORE: OnceLock<(tempfile::TempDir, CheckpointStore)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        (dir, store)
    })
}

fuzz_target!(|data: &[u8]| {
    let (_, store) = store();
    let id = CheckpointId::parse("0123456789abcdef").unwrap();
    std::fs::write(store.path_of(&id), data).unwrap();
    if let Ok(cp) = store.load(&id) {
        assert!(cp.plan().is_ok());
        assert!(cp.parts.windows(2).all(|w| w[0].number < w[1].number));
        // A record that loads saves and loads back the same.
        let saved = store.save(&cp).unwrap();
        assert_eq!(store.load(&saved).unwrap(), cp);
        let _ = store.delete(&saved);
    }
    let _ = store.list().unwrap();
});
