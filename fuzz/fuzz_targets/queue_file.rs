//! The window's queue file, read by the real engine at start. The engine must come up and stop
//! whatever the file says (a panic anywhere, the engine thread included, aborts the run).
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use oss_uploader::engine::{Command, EngineConfig, EngineSettings, Event, spawn};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("queue.json"), data).unwrap();
    let handle = spawn(
        EngineConfig {
            data_dir: dir.path().to_owned(),
            credentials: None,
            settings: EngineSettings::default(),
            persist_queue: true,
        },
        Arc::new(|| {}),
    )
    .unwrap();
    handle.send(Command::Shutdown);
    loop {
        match handle.events.recv_timeout(Duration::from_secs(20)) {
            Ok(Event::Stopped) => break,
            Ok(_) => {}
            Err(e) => panic!("the engine thread ended without stopping: {e}"),
        }
    }
});
