//! The window driven as a person would, with egui_kittest: files dropped onto it, buttons
//! clicked, the settings form checked; uploads run for real against the local server. Waits poll
//! the window frame by frame with a generous bound; nothing asserts on timing.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use oss_uploader::app::background::Pick;
use oss_uploader::app::i18n::Lang;
use oss_uploader::engine::JobState;
use oss_uploader::local_server::{FaultAction, FaultRule, Op};

mod app_rig;
mod common;
use app_rig::*;
use common::{AK, SK};

#[test]
fn dropped_files_and_folders_become_rows_and_upload() {
    let rig = Rig::new();
    rig.save_settings(None);
    let a = rig.file("a.bin", 250_000);
    let b = rig.file("b.txt", 10);
    rig.file("album/one.jpg", 1000);
    rig.file("album/deep/two.jpg", 2000);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.get_by_label("Drop files or folders here");

    drop_files(&mut h, &[a, b, rig.files.path().join("album")]);
    wait_until(&mut h, "four rows", |app| app.queue().rows().len() == 4);
    wait_until(&mut h, "every upload verified", |app| {
        app.queue().rows().iter().all(|r| r.state == JobState::Done)
    });
    h.get_by_label("a.bin");
    h.get_by_label("in/album/deep/two.jpg");
    assert_eq!(h.get_all_by_label("Done (verified)").count(), 4);
    h.get_by_label_contains("4 of 4 files done");
    assert_eq!(rig.stored("in/album/one.jpg").len(), 1000);

    h.get_by_label("Clear finished").click();
    wait_until(&mut h, "the list to empty", |app| {
        app.queue().rows().is_empty()
    });
}

/// One dropped file starts at once, as several do (it used to stop at a name question first).
#[test]
fn a_single_dropped_file_starts_at_once() {
    let rig = Rig::new();
    rig.save_settings(None);
    let d = rig.file("d.txt", 99);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[d]);
    wait_until(&mut h, "the upload", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(h.state().app().queue().rows()[0].key, "in/d.txt");
    assert!(h.query_by_label("Name in the bucket").is_none());
}

/// A queued row that has not started can be renamed (one file at a time runs, so the second
/// waits while the first uploads slowly).
#[test]
fn a_queued_file_can_get_its_own_name_before_it_starts() {
    let rig = Rig::new();
    rig.save_settings_with(|s| {
        s.bandwidth_limit = Some(200 * 1024);
        s.files_at_once = Some(1);
    });
    let big = rig.file("big.bin", 600_000);
    let c = rig.file("c.txt", 1234);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[big]);
    wait_until(&mut h, "the first uploading", |app| {
        state_of(app, 0) == Some(JobState::Uploading)
    });
    drop_files(&mut h, std::slice::from_ref(&c));
    wait_until(&mut h, "the second queued", |app| {
        state_of(app, 1) == Some(JobState::Queued)
    });
    h.get_by_label("Rename").click();
    h.run_steps(2);
    h.get_by_label("Name in the bucket");
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("notes/renamed.txt");
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    wait_until(&mut h, "both uploaded, the second renamed", |app| {
        let rows = app.queue().rows();
        rows.len() == 2
            && rows.iter().all(|r| r.state == JobState::Done)
            && rows
                .iter()
                .any(|r| r.path == c && r.key == "notes/renamed.txt")
    });
    assert_eq!(rig.stored("notes/renamed.txt").len(), 1234);
}

#[test]
fn the_setup_form_says_what_is_wrong() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    h.get_by_label("Welcome! Let's connect to your storage");
    h.get_by_label("Save and continue").click();
    h.run_steps(2);
    h.get_by_label("Enter the AccessKey ID.");
    h.get_by_label("Enter the AccessKey secret.");
    h.get_by_label("Please fix the fields marked above.");

    let form = h.state_mut().app.as_mut().unwrap().form_mut();
    form.access_key_id = AK.into();
    form.secret = SK.into();
    form.bucket = "Bad_Bucket".into();
    form.part_size = "50 KiB".into();
    form.automatic = false;
    form.threads = "100".into();
    h.run_steps(2);
    h.get_by_label("Save and continue").click();
    h.run_steps(2);
    h.get_by_label_contains("is outside what OSS allows: from 100 KiB to 5 GiB");
    h.get_by_label_contains("The bucket name \"Bad_Bucket\" is not valid");
    h.get_by_label("Use a whole number from 1 to 64.");
    assert!(h.query_by_label("Enter the AccessKey ID.").is_none());
}

/// Part size and how many at once sit folded under Advanced, and the engine chooses how many
/// at once unless a person fixes the numbers there.
#[test]
fn concurrency_is_automatic_and_its_numbers_are_under_advanced() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    assert!(h.query_by_label("Parts at once per file").is_none());
    h.get_by_label("Advanced").click();
    h.run_steps(2);
    let automatic = h.get_by_label("Choose how many at once automatically (recommended)");
    assert_eq!(
        egui_kittest::kittest::NodeT::accesskit_node(&automatic).toggled(),
        Some(egui::accesskit::Toggled::True)
    );
    h.get_by_label("Parts at once per file");

    // Untick it and fix the numbers: they are saved and used.
    h.get_by_label("Choose how many at once automatically (recommended)")
        .click();
    h.run_steps(2);
    let form = h.state_mut().app.as_mut().unwrap().form_mut();
    assert!(!form.automatic);
    form.access_key_id = AK.into();
    form.secret = SK.into();
    form.bucket = BUCKET.into();
    form.use_custom_endpoint = true;
    form.endpoint = rig.server.endpoint();
    form.path_style = true;
    form.threads = "5".into();
    form.jobs = "2".into();
    h.run_steps(2);
    h.get_by_label("Save and continue").click();
    // No keychain here: the app asks where the secret goes; this session only.
    wait_for_label(&mut h, "Where should the secret be kept?");
    h.get_by_label("Keep for this session only").click();
    // Saving happens off the window's thread.
    let load = || oss_uploader::app::settings::AppSettings::load(rig.data.path()).unwrap();
    step_until(
        &mut h,
        "the settings saved",
        Duration::from_secs(30),
        || load().is_some(),
    );
    let saved = load().unwrap();
    assert_eq!(
        (saved.parts_at_once, saved.files_at_once),
        (Some(5), Some(2))
    );
    assert_eq!(
        saved.engine_settings().concurrency(),
        oss_uploader::engine::Concurrency::Fixed {
            jobs: 2,
            threads: 5
        }
    );
}

/// Share… on a row (with the expiry and download choices) and Ctrl/Cmd+C on the selection put
/// presigned links on the clipboard that fetch the uploaded bytes from the server.
#[test]
fn copied_links_open_the_uploaded_files() {
    let rig = Rig::new();
    rig.save_settings(None);
    let files = [rig.file("one.txt", 1000), rig.file("two.txt", 2000)];
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &files);
    wait_all_done(&mut h, "both uploaded", 2);

    // Share… on the first row: 7 days by default; an hour and "download as" chosen instead.
    h.get_all_by_label("Share…").next().unwrap().click();
    h.run_steps(2);
    h.get_by_label("Share “one.txt”");
    h.get_by_label_contains("Anyone with this link can download the file until");
    h.get_by_label("1 hour").click();
    h.run_steps(2);
    h.get_by_label("Download as “one.txt” instead of opening in the browser")
        .click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("No link can be made").is_none());
    h.get_by_label_contains("until");
    // A pointer reaches a button before it clicks (a click out of nowhere can miss it).
    h.get_by_label("Copy link").hover();
    h.run_steps(2);
    h.get_by_label("Copy link").click();
    let mut links = Vec::new();
    for _ in 0..5 {
        h.step();
        links = copied(&mut h);
        if !links.is_empty() {
            break;
        }
    }
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(links[0].contains("x-oss-signature="), "{}", links[0]);
    assert!(links[0].contains("x-oss-expires=3600&"), "{}", links[0]);
    assert!(
        links[0].contains("response-content-disposition=attachment"),
        "{}",
        links[0]
    );
    assert_eq!(fetch(&links[0]).len(), 1000);
    h.step();
    h.get_by_label_contains("Link copied: anyone with it can download the file until");
    h.get_by_label("Close").click();
    h.run_steps(2);
    assert!(h.query_by_label("Share “one.txt”").is_none());

    // Select both rows (click, Ctrl-click) and copy: one link per line, in table order.
    let links = copy_two_rows(&mut h, "one.txt", "two.txt");
    let lines: Vec<&str> = links.lines().collect();
    assert_eq!(lines.len(), 2, "{links}");
    assert_eq!(fetch(lines[0]).len(), 1000);
    assert_eq!(fetch(lines[1]).len(), 2000);
}

/// On a public bucket Share… starts on the plain address, which never expires and opens for
/// anyone; a chosen expiry or "download as" signs again. The QR code painted in the window reads
/// back as the link.
#[test]
fn a_public_file_is_shared_by_its_plain_address_and_a_qr_code() {
    let rig = Rig::with_server(|c| c.with_bucket_acl(BUCKET, "public-read"));
    rig.save_settings(None);
    let file = rig.file("photo.jpg", 1500);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[file]);
    wait_all_done(&mut h, "uploaded", 1);
    h.get_all_by_label("Share…").next().unwrap().click();
    wait_for_label(
        &mut h,
        "The file is public: this address works for anyone, with no expiry.",
    );
    let shown = |h: &mut Harness<'_, Shell>| -> String {
        let link = h.state().app.as_ref().unwrap().share_link();
        link.expect("a link is shown").url
    };
    let plain = shown(&mut h);
    assert_eq!(
        plain,
        format!("{}/{BUCKET}/in/photo.jpg", rig.server.endpoint())
    );
    // The dialog re-centres as its link changes length: a pointer reaches each button first.
    let click = |h: &mut Harness<'_, Shell>, label: &str| {
        h.get_by_label(label).hover();
        h.run_steps(2);
        h.get_by_label(label).click();
        h.run_steps(2);
    };
    click(&mut h, "1 hour");
    assert!(shown(&mut h).contains("x-oss-expires=3600&"));
    click(&mut h, "Always (the file is public)");
    assert_eq!(shown(&mut h), plain);
    click(
        &mut h,
        "Download as “photo.jpg” instead of opening in the browser",
    );
    let download = shown(&mut h);
    assert!(download.contains("x-oss-expires=604800&"), "{download}");
    assert!(
        download.contains("response-content-disposition="),
        "{download}"
    );

    click(&mut h, "QR code");
    let image = h.render().expect("the window renders");
    let (w, hgt) = (image.width() as usize, image.height() as usize);
    let mut grid = rqrr::PreparedImage::prepare_from_greyscale(w, hgt, |x, y| {
        let [r, g, b, _] = image.get_pixel(x as u32, y as u32).0;
        ((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8
    });
    let grids = grid.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the window");
    let (_, read) = grids[0].decode().expect("the QR code decodes");
    assert_eq!(read, download);
}

#[test]
fn test_connection_names_the_wrong_secret_and_then_succeeds() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    let endpoint = rig.server.endpoint();
    let form = h.state_mut().app.as_mut().unwrap().form_mut();
    form.use_custom_endpoint = true;
    form.endpoint = endpoint;
    form.path_style = true;
    form.access_key_id = AK.into();
    form.secret = "wrong".into();
    form.bucket = BUCKET.into();
    // The endpoint field appears and moves the button: lay out once before clicking.
    h.run_steps(2);
    h.get_by_label("Test connection").click();
    wait_for_label(&mut h, "The AccessKey secret is wrong");
    h.state_mut().app.as_mut().unwrap().form_mut().secret = SK.into();
    h.get_by_label("Test connection").click();
    wait_for_label(&mut h, "Connected");
    h.get_by_label(
        "Connected: the key works and the bucket is reachable. This key can upload files \
         here, read files, list the bucket's files and list your buckets.",
    );
    // Its probe upload was aborted: nothing is left open on the server.
    assert!(rig.open_uploads().is_empty(), "{:?}", rig.open_uploads());

    // A key that may not start uploads or list buckets is told so in plain words.
    for op in [Op::InitiateMultipartUpload, Op::ListBuckets] {
        rig.server.faults().add(FaultRule::new(
            Some(op),
            1,
            FaultAction::error(403, "AccessDenied"),
        ));
    }
    h.get_by_label_contains("Connected").hover();
    h.get_by_label("Test connection").click();
    h.run_steps(2);
    wait_for_label(&mut h, "It cannot");
    h.get_by_label(
        "Connected: the key works and the bucket is reachable. This key can read files and \
         list the bucket's files. It cannot upload files here or list your buckets.",
    );
}

#[test]
fn pause_resume_cancel_and_retry_drive_a_real_upload() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "big.bin", 200 * 1024);

    h.get_by_label("Pause").click();
    wait_until(&mut h, "paused", |app| {
        state_of(app, 0) == Some(JobState::Paused)
    });
    h.get_by_label("Paused");

    h.get_by_label("Resume").click();
    wait_until(&mut h, "uploading again", |app| {
        state_of(app, 0) == Some(JobState::Uploading)
    });

    // Cancel asks first, then holds the upload with what was sent (see the test below).
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    h.get_by_label("Cancel upload").click();
    wait_until(&mut h, "cancelled", |app| app.queue().rows()[0].is_kept());
    h.get_by_label("Cancelled (sent parts kept)");

    h.get_by_label("Retry").click();
    wait_until(&mut h, "verified", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert_eq!(rig.stored("in/big.bin").len(), 1_500_000);
}

/// A window in `lang` whose one upload (of `name`) has failed: the server refuses it once
/// with AccessDenied, so a retry succeeds.
fn a_denied_upload(rig: &Rig, lang: Lang, name: &str) -> Harness<'static, Shell> {
    rig.save_settings(None);
    rig.server.faults().add(
        FaultRule::new(
            Some(Op::InitiateMultipartUpload),
            1,
            FaultAction::error(403, "AccessDenied"),
        )
        .times(1),
    );
    let f = rig.file(name, 300_000);
    let mut h = harness(rig.options(lang, true));
    h.step();
    drop_files(&mut h, &[f]);
    wait_until(&mut h, "failed", |app| {
        state_of(app, 0) == Some(JobState::Failed)
    });
    h
}

#[test]
fn a_failure_shows_plain_words_and_details() {
    let rig = Rig::new();
    let mut h = a_denied_upload(&rig, Lang::En, "denied.bin");
    h.get_by_label("Failed");
    // The reason is on the row itself, and again in the details.
    assert_eq!(h.get_all_by_label_contains("not allowed").count(), 1);
    h.get_by_label("Details").click();
    h.run_steps(2);
    assert_eq!(h.get_all_by_label_contains("not allowed").count(), 2);
    h.get_by_label("AccessDenied");
    h.get_by_label("Request ID");
    h.get_by_label("Copy details").click();
    h.run_steps(1);
    h.get_by_label("Close").click();
    h.run_steps(1);

    h.get_by_label("Retry").click();
    wait_until(&mut h, "verified after retry", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
}

#[test]
fn unfinished_uploads_are_offered_after_a_restart_and_finish() {
    let rig = Rig::new();
    rig.save_settings(Some(256 * 1024));
    let f = rig.file("long.bin", 2_000_000);
    {
        let mut h = harness(rig.options(Lang::En, true));
        h.step();
        drop_files(&mut h, &[f]);
        wait_until(&mut h, "some bytes confirmed", |app| {
            app.queue().rows().first().is_some_and(|r| r.confirmed > 0)
        });
        // The harness and the app go away mid-upload, as when the window is closed.
    }
    let mut h = harness(rig.options(Lang::En, true));
    wait_until(&mut h, "the restored row and the banner", |app| {
        state_of(app, 0) == Some(JobState::Interrupted) && app.queue().waiting_restored() == 1
    });
    assert!(h.state().app().queue().rows()[0].done > 0, "progress kept");
    h.get_by_label_contains("did not finish last time");
    // The banner's button comes before the toolbar's in the window.
    h.get_all_by_label("Resume all")
        .next()
        .expect("the banner's button")
        .click();
    wait_until(&mut h, "verified after resume", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    assert!(
        h.query_by_label_contains("did not finish last time")
            .is_none()
    );
    assert_eq!(rig.stored("in/long.bin").len(), 2_000_000);
}

#[test]
fn a_failure_shows_in_the_windows_language() {
    let rig = Rig::new();
    let mut h = a_denied_upload(&rig, Lang::Zh, "拒绝.bin");
    h.get_by_label("详情").click();
    h.run_steps(2);
    assert_eq!(
        h.get_all_by_label_contains("没有执行该操作的权限").count(),
        2
    );
    h.get_by_label("AccessDenied");
}

#[test]
fn chinese_labels_render() {
    let rig = Rig::new();
    let mut h = harness(rig.options(Lang::Zh, false));
    h.step();
    h.get_by_label("欢迎！先连接到您的存储空间");
    h.get_by_label("保存并继续").click();
    h.run_steps(2);
    h.get_by_label("请填写 AccessKey ID。");
}

/// Images of the main screens in both languages, compared with `tests/snapshots/*.png`
/// (`UPDATE_SNAPSHOTS=1 cargo test --test app snapshots` rewrites them).
#[test]
fn snapshots_of_the_main_screens() {
    let mut results = egui_kittest::SnapshotResults::new();
    for (lang, tag) in [(Lang::En, "en"), (Lang::Zh, "zh")] {
        let rig = Rig::new();
        let mut h = harness(rig.options(lang, false));
        h.run_steps(2);
        h.snapshot(format!("setup_{tag}"));
        let save = match lang {
            Lang::En => "Save and continue",
            Lang::Zh => "保存并继续",
        };
        h.get_by_label(save).click();
        h.run_steps(2);
        h.snapshot(format!("setup_errors_{tag}"));
        results.extend_harness(&mut h);
        drop(h);

        rig.save_settings(None);
        let files = [
            rig.file("holiday.mov", 400_000),
            rig.file("report.pdf", 120_000),
            rig.file("photos/beach.jpg", 50_000),
        ];
        let mut h = harness(rig.options(lang, true));
        h.step();
        drop_files(&mut h, &files);
        wait_all_done(&mut h, "three verified uploads", 3);
        // The walker hands the files to the engine before it tells the window it is done, so
        // the rows may be Done while the status bar still says it is adding files.
        let adding = match lang {
            Lang::En => "Adding files",
            Lang::Zh => "正在添加文件",
        };
        wait_for_no_label(&mut h, adding);
        h.run_steps(2);
        h.snapshot(format!("queue_done_{tag}"));
        results.extend_harness(&mut h);
    }
    results.unwrap();
}

#[test]
fn keyboard_pauses_resumes_and_removes_the_selection_and_closing_asks_first() {
    let rig = Rig::new();
    let mut h = uploading_slowly(&rig, "keys.bin", 150 * 1024);

    // Closing while an upload runs is held back with a question.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
    let cancelled = h
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .is_some_and(|v| v.commands.contains(&egui::ViewportCommand::CancelClose));
    assert!(cancelled, "the close must be held back");
    h.run_steps(1);
    h.get_by_label("Uploads are still running");
    h.get_by_label("Keep uploading").click();
    h.run_steps(2);
    assert!(h.query_by_label("Uploads are still running").is_none());

    h.get_by_label("keys.bin").click();
    h.run_steps(2);
    assert_eq!(
        h.state().app().queue().selected_ids(),
        [1],
        "a click on the row selects it"
    );
    h.key_press(egui::Key::Space);
    wait_until(&mut h, "paused by Space", |app| {
        state_of(app, 0) == Some(JobState::Paused)
    });
    h.key_press(egui::Key::Space);
    wait_until(&mut h, "resumed by Space", |app| {
        matches!(
            state_of(app, 0),
            Some(JobState::Uploading | JobState::Queued)
        )
    });
    // Parts are on the server: Delete asks before it throws them away.
    wait_until(&mut h, "a part confirmed", |app| {
        app.queue().rows()[0].confirmed > 0
    });
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    h.get_by_label("Throw away what was sent?");
    h.get_by_label("Remove and delete what was sent").click();
    wait_until(&mut h, "removed by Delete", |app| {
        app.queue().rows().is_empty()
    });
}

#[test]
fn ctrl_o_opens_add_files() {
    let rig = Rig::new();
    rig.save_settings(None);
    let picked = rig.file("picked.txt", 10);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();

    // A computer without any file dialog: the user is told to drag files instead.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    wait_for_label(&mut h, "No file dialog can be opened on this computer");
    assert_eq!(*rig.desktop.asked.lock().unwrap(), [Pick::Files]);

    // With a dialog, the picked file goes the way a dropped one does.
    *rig.desktop.picks.lock().unwrap() = Some(vec![picked]);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    wait_for_label(&mut h, "picked.txt");
    assert_eq!(
        *rig.desktop.asked.lock().unwrap(),
        [Pick::Files, Pick::Files]
    );

    // O without Ctrl/Cmd is not the shortcut.
    h.key_press(egui::Key::O);
    h.run_steps(2);
    assert_eq!(rig.desktop.asked.lock().unwrap().len(), 2);
}

#[test]
fn a_log_folder_that_cannot_be_opened_says_where_it_is() {
    let rig = Rig::new();
    rig.save_settings(None);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open log folder").click();
    let logs = rig.data.path().join(oss_uploader::engine::paths::LOGS_DIR);
    wait_for_label(
        &mut h,
        &format!(
            "The log folder could not be opened. It is here: {}",
            logs.display()
        ),
    );
    assert_eq!(
        *rig.desktop.opened.lock().unwrap(),
        std::slice::from_ref(&logs)
    );
    assert!(logs.is_dir(), "the folder is made before it is shown");
}

#[test]
fn the_secret_goes_where_the_user_says_and_never_into_the_settings() {
    let rig = Rig::new();
    let endpoint = rig.server.endpoint();
    let fill = |h: &mut Harness<'_, Shell>| {
        let form = h.state_mut().app.as_mut().unwrap().form_mut();
        form.use_custom_endpoint = true;
        form.endpoint = endpoint.clone();
        form.path_style = true;
        form.access_key_id = AK.into();
        form.secret = SK.into();
        form.bucket = BUCKET.into();
        h.run_steps(2);
        h.get_by_label("Save and continue").click();
        // The save runs off the frame loop: the question comes when it found no keychain.
        wait_for_label(h, "Where should the secret be kept?");
        h.get_by_label("Where should the secret be kept?");
    };

    // This session only: nothing on disk, and the next start asks for the secret again.
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    fill(&mut h);
    h.get_by_label("Keep for this session only").click();
    wait_for_label(&mut h, "The secret is kept until the app closes");
    h.get_by_label_contains("The secret is kept until the app closes");
    h.get_by_label("Drop files or folders here");
    drop(h);
    let saved = std::fs::read_to_string(rig.data.path().join("settings.json")).unwrap();
    assert!(!saved.contains(SK), "{saved}");
    let mut h = harness(rig.options(Lang::En, false));
    h.run_steps(2);
    h.get_by_label_contains("Enter the AccessKey secret again");
    drop(h);

    // A private file: the next start goes straight to the queue.
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    fill(&mut h);
    h.get_by_label("Save in a private file").click();
    wait_for_label(&mut h, "only you can read it");
    h.get_by_label_contains("only you can read it");
    drop(h);
    let saved = std::fs::read_to_string(rig.data.path().join("settings.json")).unwrap();
    assert!(!saved.contains(SK), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let file = oss_uploader::secrets::Secrets::new(rig.data.path()).file_path(AK);
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut h = harness(rig.options(Lang::En, false));
    h.run_steps(2);
    h.get_by_label("Drop files or folders here");
}

#[test]
fn dragging_files_over_the_window_shows_where_they_will_go() {
    let rig = Rig::new();
    rig.save_settings(None);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.input_mut().hovered_files.push(egui::HoveredFile {
        path: Some(rig.files.path().join("x.bin")),
        ..Default::default()
    });
    h.run_steps(2);
    h.snapshot("drop_overlay_en");
}

/// A folder of 100,000 files fills the table while the window keeps drawing frames; only the
/// rows in view are laid out, so a frame costs the same with 10 rows or 100,000.
#[test]
#[ignore = "slow (minutes): writes 100,000 files; run with `cargo test --test app -- --ignored`"]
fn a_hundred_thousand_files_fill_the_table_without_stalling_the_window() {
    const N: usize = 100_000;
    let rig = Rig::new();
    rig.save_settings(None);
    // Hold every request so the uploads do not race the count.
    rig.server
        .faults()
        .add(FaultRule::new(None, 1, FaultAction::Stall).times(1_000_000));
    let dir = rig.files.path().join("many");
    let writing = Instant::now();
    for i in 0..N {
        let sub = dir.join(format!("d{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i:06}.txt")), b"x").unwrap();
    }
    eprintln!("writing {N} files took {:.1?}", writing.elapsed());
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[dir]);
    let started = Instant::now();
    let mut frames = 0u32;
    let mut slowest = Duration::ZERO;
    let deadline = started + Duration::from_secs(180);
    while h.state().app().queue().rows().len() < N {
        let t = Instant::now();
        h.step();
        slowest = slowest.max(t.elapsed());
        frames += 1;
        assert!(
            Instant::now() < deadline,
            "only {} rows",
            h.state().app().queue().rows().len()
        );
    }
    let t = Instant::now();
    h.step();
    eprintln!(
        "{N} rows in {:.1?} over {frames} frames; slowest frame {slowest:.1?}; a frame with all rows {:.1?}",
        started.elapsed(),
        t.elapsed()
    );
    h.get_by_label_contains(&format!("0 of {N} files done"));
    let closing = Instant::now();
    drop(h);
    eprintln!("closing the window took {:.1?}", closing.elapsed());
}
