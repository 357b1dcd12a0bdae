//! The window's queue and setup form as a person lives with them, driven with egui_kittest
//! against the local server: Cancel asks and keeps what was sent so Retry continues, the
//! filters and their counts, a small window, the setup form checked as it is typed, the bucket
//! picked from the account's buckets, file names in many scripts drawn with the system's
//! fonts, and a re-drop that skips what is already there.

use std::process::Command;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use oss_uploader::app::AppOptions;
use oss_uploader::app::i18n::Lang;
use oss_uploader::engine::JobState;
use oss_uploader::local_server::{FaultAction, FaultRule, Op};

mod app_rig;
mod common;
use app_rig::*;

#[test]
fn cancel_asks_first_and_keeps_the_sent_parts_so_retry_continues() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "kept.bin", 200 * 1024);
    wait_until(&mut h, "a good part confirmed", |app| {
        app.queue().rows()[0].confirmed >= 500_000
    });

    // Asked first; "Keep uploading" changes nothing.
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    h.get_by_label("Cancel this upload?");
    h.get_by_label("Keep uploading").click();
    h.run_steps(2);
    assert!(h.query_by_label("Cancel this upload?").is_none());
    assert_eq!(h.state().app().queue().rows()[0].state, JobState::Uploading);

    h.get_by_label("Cancel").click();
    h.run_steps(2);
    h.get_by_label("Cancel upload").click();
    wait_until(&mut h, "cancelled with its parts", |app| {
        app.queue().rows()[0].is_kept()
    });
    h.get_by_label("Cancelled (sent parts kept)");
    let sent = h.state().app().queue().rows()[0].confirmed;
    // The parts are still on the server.
    let client = rig.server.client();
    let uploads = rig
        .rt
        .block_on(client.list_multipart_uploads(BUCKET, ""))
        .unwrap();
    assert_eq!(uploads.len(), 1, "the server upload is kept");
    // "Resume all" leaves a cancelled row alone.
    h.get_by_label("Resume all").click();
    h.run_steps(3);
    assert!(h.state().app().queue().rows()[0].is_kept());

    h.get_by_label("Retry").click();
    wait_until(&mut h, "verified", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(rig.stored("in/kept.bin").len(), 1_500_000);
    // One upload from start to end, and the kept bytes were not sent again (at most the parts
    // in flight when it was held are).
    let stats = rig.server.stats();
    assert_eq!(stats.requests(Op::InitiateMultipartUpload), 1);
    let parts_sent = stats.body_bytes(Op::UploadPart);
    assert!(
        parts_sent < 1_500_000 + sent,
        "{parts_sent} bytes of parts for a 1,500,000-byte file of which {sent} were kept"
    );
}

#[test]
fn removing_a_cancelled_row_throws_its_parts_away() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "gone.bin", 200 * 1024);
    wait_until(&mut h, "a part confirmed", |app| {
        app.queue().rows()[0].confirmed > 0
    });
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    h.get_by_label("Cancel upload").click();
    wait_until(&mut h, "cancelled with its parts", |app| {
        app.queue().rows()[0].is_kept()
    });
    // The parts go with the row: asked first.
    h.get_by_label("Remove").click();
    h.run_steps(2);
    h.get_by_label("Throw away what was sent?");
    h.get_by_label("Remove and delete what was sent").click();
    wait_until(&mut h, "the row gone", |app| app.queue().rows().is_empty());
    let client = rig.server.client();
    common::wait_until_blocking("the server upload aborted", common::WAIT, || {
        rig.rt
            .block_on(client.list_multipart_uploads(BUCKET, ""))
            .unwrap()
            .is_empty()
    });
}

/// A paused upload holds the parts it sent: Remove says they will be deleted and asks, and
/// "Keep" leaves the row and its parts as they were.
#[test]
fn removing_a_paused_upload_asks_before_its_parts_are_thrown_away() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "paused.bin", 200 * 1024);
    wait_until(&mut h, "a part confirmed", |app| {
        app.queue().rows()[0].confirmed > 0
    });
    h.get_by_label("Pause").click();
    wait_until(&mut h, "paused", |app| {
        state_of(app, 0) == Some(JobState::Paused)
    });
    let sent = h.state().app().queue().rows()[0].confirmed;
    assert!(sent > 0);

    h.get_by_label("Remove").click();
    h.run_steps(2);
    h.get_by_label("Throw away what was sent?");
    h.get_by_label_contains("paused.bin: the ");
    h.get_by_label("Keep").click();
    h.run_steps(3);
    assert!(h.query_by_label("Throw away what was sent?").is_none());
    let rows = h.state().app().queue().rows();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].state, rows[0].confirmed), (JobState::Paused, sent));
    let client = rig.server.client();
    let uploads = rig
        .rt
        .block_on(client.list_multipart_uploads(BUCKET, ""))
        .unwrap();
    assert_eq!(uploads.len(), 1, "the parts stay on the server");

    // Resume goes on from them.
    h.get_by_label("Resume").click();
    wait_until(&mut h, "verified", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(rig.stored("in/paused.bin").len(), 1_500_000);
}

/// A dropped path that is gone by the time it is read is named in a message that says it was
/// not found (not that permissions are wrong); the rest is uploaded.
#[test]
fn a_dropped_path_that_is_gone_is_named_as_not_found() {
    let rig = Rig::new();
    rig.save_settings(None);
    let good = rig.file("here.txt", 100);
    let gone = rig.files.path().join("gone.txt");
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[good, gone.clone()]);
    wait_all_done(&mut h, "the file that is there uploaded", 1);
    wait_for_label(
        &mut h,
        &format!(
            "Not found (moved or deleted?), so not added: {}",
            gone.display()
        ),
    );
    assert!(h.query_by_label_contains("permissions").is_none());
}

#[test]
fn filters_count_the_rows_and_finished_ones_fold_away() {
    let rig = Rig::new();
    rig.save_settings(None);
    rig.server.faults().add(
        FaultRule::new(
            Some(Op::InitiateMultipartUpload),
            1,
            FaultAction::error(403, "AccessDenied"),
        )
        .times(1),
    );
    let files = [
        rig.file("one.txt", 10),
        rig.file("two.txt", 20),
        rig.file("denied.bin", 300_000),
    ];
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &files);
    wait_until(&mut h, "two done and one failed", |app| {
        let rows = app.queue().rows();
        rows.len() == 3
            && rows.iter().filter(|r| r.state == JobState::Done).count() == 2
            && rows.iter().any(|r| r.state == JobState::Failed)
    });
    h.get_by_label("All (3)");
    h.get_by_label("Active (0)");
    h.get_by_label("Done (2)");
    // The failure says why on its row.
    h.get_by_label_contains("not allowed");

    h.get_by_label("Failed (1)").click();
    h.run_steps(2);
    h.get_by_label("denied.bin");
    assert!(h.query_by_label("one.txt").is_none());

    h.get_by_label("Done (2)").click();
    h.run_steps(2);
    h.get_by_label("one.txt");
    h.get_by_label("two.txt");
    assert!(h.query_by_label("denied.bin").is_none());

    h.get_by_label("Active (0)").click();
    h.run_steps(2);
    h.get_by_label("No uploads here.");

    h.get_by_label("All (3)").click();
    h.get_by_label("Hide finished (2)").click();
    h.run_steps(2);
    h.get_by_label("denied.bin");
    assert!(h.query_by_label("one.txt").is_none());
    assert!(h.query_by_label("two.txt").is_none());
}

#[test]
fn a_small_window_keeps_the_state_and_the_buttons_in_view() {
    let rig = Rig::new();
    rig.save_settings(Some(100 * 1024));
    let big = rig.file("a file with a rather long name.bin", 1_500_000);
    let options = rig.options(Lang::En, true);
    // The window's smallest size (app/mod.rs).
    let mut h = harness_with(
        options,
        egui::vec2(720.0, 420.0),
        oss_uploader::app::fonts::install,
    );
    h.step();
    drop_files(&mut h, &[big]);
    wait_until(&mut h, "uploading", |app| {
        state_of(app, 0) == Some(JobState::Uploading)
    });
    h.run_steps(2);
    let width = 720.0;
    for label in ["Uploading", "Pause", "Cancel", "Actions", "State"] {
        let rect = h.get_by_label(label).rect();
        assert!(
            rect.right() <= width,
            "{label} is cut off at {rect:?} in a {width} pt window"
        );
    }
    // The columns that give way first are gone.
    for label in ["Time left", "Speed", "Name in bucket"] {
        assert!(h.query_by_label(label).is_none(), "{label} still shows");
    }
    // The destination is cut short, never drawn over the buttons.
    let destination = h.get_by_label_contains("Files go to").rect();
    let clear = h.get_by_label("Clear finished").rect();
    assert!(
        !destination.intersects(clear),
        "{destination:?} overlaps {clear:?}"
    );
}

fn form<'h>(
    h: &'h mut Harness<'static, Shell>,
) -> &'h mut oss_uploader::app::settings::SettingsForm {
    h.state_mut().app.as_mut().unwrap().form_mut()
}

/// The setup form pointed at `rig`'s server with the test key, laid out again.
fn form_on_server(h: &mut Harness<'static, Shell>, rig: &Rig) {
    let f = form(h);
    f.use_custom_endpoint = true;
    f.endpoint = rig.server.endpoint();
    f.path_style = true;
    f.access_key_id = common::AK.into();
    f.secret = common::SK.into();
    h.run_steps(2);
}

#[test]
fn setup_errors_show_as_the_user_types_and_go_once_fixed() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    // Nothing typed yet: nothing is marked.
    assert!(h.query_by_label("Enter the AccessKey ID.").is_none());
    h.get_by_label("Where do I find my AccessKey?");

    form(&mut h).bucket = "Bad_Bucket".into();
    h.run_steps(2);
    h.get_by_label_contains("The bucket name \"Bad_Bucket\" is not valid");
    // Fields not touched yet stay quiet.
    assert!(h.query_by_label("Enter the AccessKey ID.").is_none());

    form(&mut h).bucket = "good-bucket".into();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("is not valid").is_none(),
        "the message went when the name became right"
    );

    // After Save every field is checked, and each message goes as its field is filled in.
    h.get_by_label("Save and continue").click();
    h.run_steps(2);
    h.get_by_label("Enter the AccessKey ID.");
    h.get_by_label("Enter the AccessKey secret.");
    form(&mut h).access_key_id = common::AK.into();
    h.run_steps(2);
    assert!(h.query_by_label("Enter the AccessKey ID.").is_none());
    h.get_by_label("Enter the AccessKey secret.");
}

/// "Choose from my buckets" lists the account's buckets with their regions (the server says
/// its buckets are in Shanghai); picking one fills in the bucket, and the region too unless a
/// custom endpoint is in use. No network, a wrong secret and a key that may not list say so
/// plainly.
#[test]
fn the_bucket_is_picked_from_the_accounts_buckets() {
    let rig = Rig::with_server(|c| c.with_bucket("family-photos").with_region("cn-shanghai"));
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    // Nobody listens on a port just let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let f = form(&mut h);
    f.use_custom_endpoint = true;
    f.endpoint = format!("http://{closed}");
    f.path_style = true;
    f.access_key_id = common::AK.into();
    f.secret = "wrong".into();
    // The endpoint field appears and moves the button: lay out once before clicking.
    h.run_steps(2);
    h.get_by_label("Choose from my buckets").click();
    wait_for_label(&mut h, "The storage service cannot be reached.");

    form(&mut h).endpoint = rig.server.endpoint();
    h.run_steps(2);
    h.get_by_label("Choose from my buckets").click();
    wait_for_label(
        &mut h,
        "The AccessKey secret is wrong (it is case-sensitive).",
    );
    assert!(h.query_by_label_contains("family-photos").is_none());

    rig.server.faults().add(
        FaultRule::new(
            Some(Op::ListBuckets),
            1,
            FaultAction::error(403, "AccessDenied"),
        )
        .times(1),
    );
    form(&mut h).secret = common::SK.into();
    h.run_steps(2);
    // The message was about the old secret: it goes once another is typed.
    assert!(
        h.query_by_label("The AccessKey secret is wrong (it is case-sensitive).")
            .is_none()
    );
    h.get_by_label("Choose from my buckets").click();
    wait_for_label(
        &mut h,
        "This key cannot list buckets; type the bucket name above, then press Find its region.",
    );

    h.get_by_label("Choose from my buckets").click();
    wait_for_label(&mut h, "family-photos — China (Shanghai)");
    h.get_by_label("app-bucket — China (Shanghai)");
    h.get_by_label("test-bucket — China (Shanghai)");
    // With a custom endpoint the address typed in is kept, and it signs for the bucket's
    // region (OSS refuses a V4 request signed for another).
    h.get_by_label("family-photos — China (Shanghai)").click();
    h.run_steps(2);
    let f = form(&mut h);
    assert_eq!(f.bucket, "family-photos");
    assert_eq!(f.region, "cn-shanghai");
    assert_eq!(f.endpoint, rig.server.endpoint());
    // The picked bucket is one the key can use.
    h.get_by_label("Test connection").click();
    wait_for_label(&mut h, "Connected");

    // With the region's own endpoint, picking sets the region and the endpoint follows.
    form(&mut h).use_custom_endpoint = false;
    h.run_steps(2);
    h.get_by_label("test-bucket — China (Shanghai)").click();
    h.run_steps(2);
    let f = form(&mut h);
    assert_eq!(
        (f.bucket.as_str(), f.region.as_str()),
        ("test-bucket", "cn-shanghai")
    );
    h.get_by_label("oss-cn-shanghai.aliyuncs.com");
}

/// A key that may not list buckets (a RAM user limited to one bucket): the user types the
/// bucket's name and "Find its region" sets the region, so the connection works without the
/// user knowing where the bucket is.
#[test]
fn a_key_that_cannot_list_finds_its_buckets_region() {
    let rig = Rig::with_server(|c| c.with_bucket("family-photos").with_region("cn-shanghai"));
    rig.server.faults().add(FaultRule::new(
        Some(Op::ListBuckets),
        1,
        FaultAction::error(403, "AccessDenied"),
    ));
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    form_on_server(&mut h, &rig);
    h.get_by_label("Choose from my buckets").click();
    wait_for_label(
        &mut h,
        "This key cannot list buckets; type the bucket name above, then press Find its region.",
    );
    form(&mut h).bucket = "no-such-bucket".into();
    h.run_steps(2);
    h.get_by_label("Find its region").click();
    wait_for_label(&mut h, "No bucket has this name. Check its spelling.");
    form(&mut h).bucket = "family-photos".into();
    h.run_steps(2);
    h.get_by_label("Find its region").click();
    wait_for_label(
        &mut h,
        "\"family-photos\" is in China (Shanghai); the region is set.",
    );
    assert_eq!(form(&mut h).region, "cn-shanghai");
    h.get_by_label("Test connection").click();
    wait_for_label(&mut h, "Connected");
}

/// Images of the setup form with the account's buckets listed and one picked, in both
/// languages (`UPDATE_SNAPSHOTS=1 cargo test --test app_queue snapshots` rewrites them).
#[test]
fn snapshots_of_the_bucket_picker() {
    let mut results = egui_kittest::SnapshotResults::new();
    for (lang, tag, choose, picked) in [
        (
            Lang::En,
            "en",
            "Choose from my buckets",
            "family-photos — China (Shanghai)",
        ),
        (
            Lang::Zh,
            "zh",
            "从我的存储空间中选择",
            "family-photos — 华东2（上海）",
        ),
    ] {
        let rig = Rig::with_server(|c| c.with_bucket("family-photos").with_region("cn-shanghai"));
        let mut h = harness(rig.options(lang, false));
        h.step();
        form_on_server(&mut h, &rig);
        h.get_by_label(choose).click();
        wait_for_label(&mut h, picked);
        // The server's address has a port of its own each run: keep it out of the image.
        form(&mut h).use_custom_endpoint = false;
        h.run_steps(2);
        h.get_by_label(picked).click();
        h.run_steps(2);
        assert_eq!(form(&mut h).region, "cn-shanghai");
        h.snapshot(format!("bucket_picker_{tag}"));
        results.extend_harness(&mut h);
    }
    results.unwrap();
}

#[test]
fn the_region_list_can_be_searched() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    // The list is labelled by its field; its value is the chosen region's name.
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Region")
        .click();
    h.run_steps(2);
    h.get_by_label_contains("Germany (Frankfurt)");
    // The search box has the keyboard as soon as the list opens.
    h.input_mut().events.push(egui::Event::Text("tokyo".into()));
    h.run_steps(2);
    h.get_by_label_contains("Japan (Tokyo)").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("Germany (Frankfurt)").is_none());
    assert_eq!(form(&mut h).region, "ap-northeast-1");
}

/// Whether some installed font has every character of `text` (fontconfig's own answer);
/// `None` where fontconfig's tools are missing.
fn system_has(text: &str) -> Option<bool> {
    let charset: Vec<String> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| format!("{:x}", c as u32))
        .collect();
    let out = Command::new("fc-list")
        .arg(format!(":charset={}", charset.join(" ")))
        .arg("family")
        .output()
        .ok()?;
    Some(out.status.success() && !out.stdout.is_empty())
}

#[test]
fn names_in_many_scripts_are_drawn_with_the_systems_fonts() {
    let names = [
        ("Traditional Chinese", "蘋果電腦報告"),
        ("Japanese", "ひらがなとカタカナ"),
        ("Korean", "한국어 보고서"),
        ("Greek", "Ελληνικά αρχεία"),
        ("Arabic", "تقرير سنوي"),
        ("emoji", "📷🎉"),
    ];
    let rig = Rig::new();
    rig.save_settings(None);
    let files: Vec<_> = names
        .iter()
        .map(|(_, n)| rig.file(&format!("{n}.txt"), 10))
        .collect();
    let options: AppOptions = rig.options(Lang::En, true);
    let mut h = harness_with(
        options,
        egui::vec2(1280.0, 720.0),
        oss_uploader::app::fonts::setup,
    );
    h.step();
    drop_files(&mut h, &files);
    wait_until(&mut h, "every row", |app| {
        app.queue().rows().len() == names.len()
    });
    let font = egui::FontId::proportional(14.0);
    let mut checked = 0;
    for (script, name) in names {
        h.get_by_label(&format!("{name}.txt"));
        let drawn = h.ctx.fonts_mut(|f| f.has_glyphs(&font, name));
        match system_has(name) {
            Some(true) => {
                assert!(
                    drawn,
                    "{script} ({name}) has a system font but draws as boxes"
                );
                checked += 1;
            }
            Some(false) => eprintln!("no system font for {script} here; not checked"),
            None => eprintln!("fc-list is missing; {script} not checked"),
        }
    }
    eprintln!("{checked} of {} scripts checked", names.len());
}

#[test]
fn the_computer_stays_awake_while_uploading_and_a_finished_batch_is_notified() {
    let rig = Rig::new();
    // Slow enough (about a second) that some frame sees them uploading: files that come and
    // go between two frames never needed the computer kept awake.
    rig.save_settings(Some(50_000));
    let files = [rig.file("n1.txt", 30_000), rig.file("n2.txt", 20_000)];
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &files);
    wait_all_done(&mut h, "both uploaded", 2);
    // The batch ends on the frame after the last report; the notification and the release
    // follow from it.
    step_until(
        &mut h,
        "the notification",
        std::time::Duration::from_secs(30),
        || !rig.desktop.notified.lock().unwrap().is_empty(),
    );
    assert_eq!(*rig.desktop.awake.lock().unwrap(), [true, false]);
    assert_eq!(
        *rig.desktop.notified.lock().unwrap(),
        [(
            "All 2 uploaded".to_owned(),
            format!("Verified in oss://{BUCKET}/in/")
        )]
    );
}

#[test]
fn keeping_awake_and_notifying_can_be_turned_off() {
    let rig = Rig::new();
    rig.save_settings_with(|s| {
        s.keep_awake = false;
        s.notify = false;
    });
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[rig.file("quiet.txt", 10)]);
    wait_until(&mut h, "uploaded", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    h.run_steps(2);
    assert!(rig.desktop.awake.lock().unwrap().is_empty());
    assert!(rig.desktop.notified.lock().unwrap().is_empty());
}

/// "Skip if identical": dropping the same files again uploads only the one that changed.
#[test]
fn a_redrop_with_skip_if_identical_uploads_only_what_changed() {
    let rig = Rig::new();
    rig.save_settings_with(|s| s.existing = oss_uploader::engine::ExistingPolicy::SkipIdentical);
    let files = [
        rig.file("same-1.txt", 1000),
        rig.file("same-2.txt", 200_000),
        rig.file("changed.txt", 3000),
    ];
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &files);
    wait_all_done(&mut h, "the first three uploaded", 3);
    // Same size, other bytes: only the CRC-64 tells them apart.
    let changed: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(&files[2], &changed).unwrap();
    drop_files(&mut h, &files);
    wait_until(&mut h, "the re-drop finished", |app| {
        let rows = app.queue().rows();
        rows.len() == 6 && rows[3..].iter().all(|r| r.state.is_finished())
    });
    let states: Vec<(String, JobState)> = h.state().app().queue().rows()[3..]
        .iter()
        .map(|r| (r.name.clone(), r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("same-1.txt".to_owned(), JobState::Skipped),
            ("same-2.txt".to_owned(), JobState::Skipped),
            ("changed.txt".to_owned(), JobState::Done),
        ]
    );
    assert_eq!(rig.stored("in/changed.txt"), changed);
    // The choice in the settings, ticked.
    h.get_by_label("Settings").click();
    h.run_steps(2);
    let choice = h.get_by_label("Skip if identical");
    assert_eq!(
        egui_kittest::kittest::NodeT::accesskit_node(&choice).toggled(),
        Some(egui::accesskit::Toggled::True)
    );
}
