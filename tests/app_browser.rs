//! The folder browser driven as a person would, with egui_kittest, against the local server
//! with real objects: browsing in and back by the breadcrumbs, making a folder, choosing the
//! folder uploads go to (from the setup form and from the main window), and "Show in bucket"
//! on an uploaded row in a folder of more than one page.

use egui_kittest::kittest::{NodeT as _, Queryable as _};
use oss_uploader::app::folder_browser::Loading;
use oss_uploader::app::i18n::Lang;
use oss_uploader::local_server::{FaultAction, FaultRule, Op};
use oss_uploader::oss::client::Client;

mod app_rig;
mod common;
use app_rig::*;

/// Puts `keys` (their own names as bytes) into the app's bucket, sixteen at a time.
fn put_objects(rig: &Rig, keys: Vec<String>) {
    let client = rig.server.client();
    rig.rt.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        // Sixteen at a time: more only queue up in the server.
        for chunk in keys.chunks(keys.len().div_ceil(16).max(1)) {
            let (client, chunk): (Client, Vec<String>) = (client.clone(), chunk.to_vec());
            tasks.spawn(async move {
                for key in chunk {
                    let body =
                        oss_uploader::oss::client::Body::Bytes(key.clone().into_bytes().into());
                    client
                        .put_object(BUCKET, &key, body, &Default::default(), &Default::default())
                        .await
                        .unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    });
}

fn exists(rig: &Rig, key: &str) -> bool {
    let client = rig.server.client();
    rig.rt.block_on(client.head_object(BUCKET, key)).is_ok()
}

fn browsing(h: &egui_kittest::Harness<'_, Shell>, prefix: &str) -> bool {
    h.state()
        .app()
        .folder_browser()
        .is_some_and(|b| b.prefix == prefix && b.loading == Loading::Listed)
}

fn wait_browsing(h: &mut egui_kittest::Harness<'_, Shell>, prefix: &str) {
    wait_until(h, &format!("the browser listing {prefix:?}"), |app| {
        app.folder_browser()
            .is_some_and(|b| b.prefix == prefix && b.loading == Loading::Listed)
    });
}

/// From the destination on the main window: into a folder and back by a breadcrumb, a name
/// that cannot be a folder, a new folder made on the server and entered, and choosing it makes
/// it the destination.
#[test]
fn folders_are_browsed_made_and_chosen_from_the_main_window() {
    let rig = Rig::new();
    rig.save_settings(None);
    put_objects(
        &rig,
        vec![
            "in/photos/beach.jpg".into(),
            "in/notes.txt".into(),
            "top.txt".into(),
        ],
    );
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    h.get_by_label("Browse…").click();
    wait_browsing(&mut h, "in/");
    h.get_by_label("photos/");
    h.get_by_label("notes.txt");
    h.get_by_label("Folders: 1   Files: 1");
    assert!(h.query_by_label("top.txt").is_none());

    h.get_by_label("photos/").click();
    wait_browsing(&mut h, "in/photos/");
    h.get_by_label("beach.jpg");
    // "in/photos/beach.jpg" has 19 bytes: the size column.
    h.get_by_label("19 B");
    assert!(h.query_by_label("notes.txt").is_none());

    h.get_by_label("app-bucket").click();
    wait_browsing(&mut h, "");
    h.get_by_label("top.txt");
    h.get_by_label("in/");

    h.get_by_label("New folder…").click();
    h.run_steps(2);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("a/b");
    h.run_steps(2);
    h.get_by_label("A folder name cannot contain “/” or “\\”.");
    h.get_by_label("Create").click();
    h.run_steps(2);
    assert!(!exists(&rig, "a/b/") && !exists(&rig, "a/"));

    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("Holiday 2024");
    h.run_steps(2);
    h.get_by_label("Create").click();
    wait_browsing(&mut h, "Holiday 2024/");
    assert!(exists(&rig, "Holiday 2024/"));
    h.get_by_label("This folder is empty.");
    h.get_by_label("Files will go to oss://app-bucket/Holiday 2024/");

    h.get_by_label("Choose this folder").click();
    wait_until(&mut h, "the new destination", |app| {
        app.settings().key_prefix() == "Holiday 2024/"
    });
    assert!(h.state().app().folder_browser().is_none());
    h.get_by_label("Files go to oss://app-bucket/Holiday 2024/");
}

/// On the setup form, Browse… waits for a key and a bucket, then opens at the folder typed in
/// (a key that may not list is told so, and Retry lists again) and fills the Folder field with
/// the folder chosen.
#[test]
fn the_setup_forms_folder_is_picked_in_the_browser() {
    let rig = Rig::new();
    put_objects(
        &rig,
        vec!["docs/2024/report.pdf".into(), "docs/old.txt".into()],
    );
    let mut h = harness(rig.options(Lang::En, false));
    h.step();
    assert!(h.get_by_label("Browse…").accesskit_node().is_disabled());
    let f = h.state_mut().app.as_mut().unwrap().form_mut();
    f.use_custom_endpoint = true;
    f.endpoint = rig.server.endpoint();
    f.path_style = true;
    f.access_key_id = common::AK.into();
    f.secret = common::SK.into();
    f.bucket = BUCKET.into();
    f.prefix = "docs".into();
    h.run_steps(2);
    rig.server.faults().add(
        FaultRule::new(
            Some(Op::ListObjectsV2),
            1,
            FaultAction::error(403, "AccessDenied"),
        )
        .times(1),
    );
    h.get_by_label("Browse…").click();
    wait_for_label(
        &mut h,
        "This key may not list what is in the bucket. Ask the account owner for list permission, or type the folder by hand.",
    );
    h.get_by_label("Retry").click();
    wait_browsing(&mut h, "docs/");
    h.get_by_label("old.txt");
    h.get_by_label("2024/").click();
    wait_browsing(&mut h, "docs/2024/");
    h.get_by_label("report.pdf");
    h.get_by_label("Up").click();
    wait_browsing(&mut h, "docs/");
    h.get_by_label("2024/").click();
    wait_browsing(&mut h, "docs/2024/");
    h.get_by_label("Choose this folder").click();
    h.run_steps(2);
    assert!(h.state().app().folder_browser().is_none());
    assert_eq!(
        h.state_mut().app.as_mut().unwrap().form_mut().prefix,
        "docs/2024/"
    );
}

/// "Show in bucket" on an uploaded row opens its folder read-only, every page of it (1,500
/// keys are two pages), with the file highlighted and scrolled into view (rows out of view are
/// not laid out, so its label shows only once scrolled to); its Share… opens the Share dialog.
#[test]
fn show_in_bucket_finds_the_uploaded_file_in_a_folder_of_many_pages() {
    let rig = Rig::new();
    rig.save_settings(None);
    put_objects(&rig, (0..1500).map(|i| format!("in/f{i:04}.txt")).collect());
    let upload = rig.file("zz-last.bin", 5000);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    drop_files(&mut h, &[upload]);
    wait_all_done(&mut h, "the upload", 1);

    h.get_by_label("In bucket").click();
    wait_browsing(&mut h, "in/");
    let b = h.state().app().folder_browser().unwrap();
    assert_eq!(b.files.len(), 1501);
    assert_eq!(b.highlighted_row(), Some(1500));
    h.run_steps(3);
    h.get_by_label("Folders: 0   Files: 1501");
    // The queue's row has its name and size too; the browser's shows only once scrolled to.
    assert_eq!(h.get_all_by_label("zz-last.bin").count(), 2);
    assert_eq!(h.get_all_by_label("4.9 KiB").count(), 2);
    assert!(h.query_by_label("f0000.txt").is_none());
    // Read-only: nothing to make or choose.
    assert!(h.query_by_label("New folder…").is_none());
    assert!(h.query_by_label("Choose this folder").is_none());
    assert!(browsing(&h, "in/"));

    // The only Share… in view besides the row's is the highlighted file's, last in the list.
    let shares: Vec<_> = h.get_all_by_label("Share…").collect();
    assert!(shares.len() > 1, "{}", shares.len());
    shares.last().unwrap().click();
    h.run_steps(2);
    h.get_by_label("Share “zz-last.bin”");
    // Escape closes the dialog on top, and only that one.
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.query_by_label("Share “zz-last.bin”").is_none());
    h.get_by_label("Close").click();
    h.run_steps(2);
    assert!(h.state().app().folder_browser().is_none());
}

/// In the smallest window (720 × 420) the dialog shrinks: the list, New folder…, Choose and
/// Close all stay inside the window.
#[test]
fn the_browser_fits_the_smallest_window() {
    let rig = Rig::new();
    rig.save_settings(None);
    put_objects(&rig, (0..40).map(|i| format!("in/f{i:02}.txt")).collect());
    let mut h = harness_with(
        rig.options(Lang::En, true),
        egui::vec2(720.0, 420.0),
        oss_uploader::app::fonts::install,
    );
    h.step();
    h.get_by_label("Browse…").click();
    wait_browsing(&mut h, "in/");
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(720.0, 420.0));
    for label in [
        "New folder…",
        "Choose this folder",
        "Close",
        "f00.txt",
        "Up",
    ] {
        let rect = h.get_by_label(label).rect();
        assert!(window.contains_rect(rect), "{label} at {rect:?}");
    }
}

/// New folder… never replaces what is already under the name (here an object `keep/` with
/// bytes in it, not yet listed because the listing failed): the folder counts as made and is
/// entered. A key that may not write is told so and nothing is entered.
#[test]
fn a_new_folder_keeps_what_is_there_and_a_refusal_is_said() {
    let rig = Rig::new();
    rig.save_settings(None);
    put_objects(&rig, vec!["in/keep/".into()]);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    rig.server.faults().add(
        FaultRule::new(
            Some(Op::ListObjectsV2),
            1,
            FaultAction::error(500, "InternalError"),
        )
        .times(10),
    );
    h.get_by_label("Browse…").click();
    wait_until(&mut h, "the listing to fail", |app| {
        app.folder_browser()
            .is_some_and(|b| matches!(b.loading, Loading::Failed(_)))
    });
    rig.server.faults().clear();
    rig.server.faults().add(
        FaultRule::new(
            Some(Op::PutObject),
            1,
            FaultAction::error(403, "AccessDenied"),
        )
        .times(1),
    );
    h.get_by_label("New folder…").click();
    h.run_steps(2);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("keep");
    h.run_steps(2);
    h.get_by_label("Create").click();
    wait_for_label(
        &mut h,
        "The key works but may not use this bucket. Ask the account owner for upload permission.",
    );
    assert_eq!(h.state().app().folder_browser().unwrap().prefix, "in/");

    h.get_by_label("Create").click();
    wait_browsing(&mut h, "in/keep/");
    assert_eq!(rig.stored("in/keep/"), b"in/keep/");
}

/// A folder of 100,000 keys (slow: they are put first; `cargo test --test app_browser --
/// --ignored`): the first pages show while the rest come, and every page comes. Prints how
/// long the listing and a frame with all the rows took.
#[test]
#[ignore]
fn a_folder_of_100000_keys_lists_whole() {
    let rig = Rig::new();
    rig.save_settings_with(|s| s.prefix = "big".into());
    put_objects(
        &rig,
        (0..100_000).map(|i| format!("big/{i:06}.jpg")).collect(),
    );
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    let started = std::time::Instant::now();
    h.get_by_label("Browse…").click();
    let mut frames = 0u32;
    let mut shown = 0;
    while !browsing(&h, "big/") {
        assert!(
            started.elapsed() < common::WAIT * 3,
            "gave up waiting for the listing"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
        frames += 1;
        // Rows show while pages still come.
        if let Some(b) = h.state().app().folder_browser()
            && b.loading == Loading::Listing
        {
            shown = shown.max(b.rows());
        }
    }
    assert!(
        shown > 0 && shown < 100_000,
        "{shown} rows shown while listing"
    );
    let listed = started.elapsed();
    assert_eq!(
        h.state().app().folder_browser().unwrap().files.len(),
        100_000
    );
    let frame = std::time::Instant::now();
    h.run_steps(10);
    eprintln!(
        "100,000 keys listed in {listed:?} ({frames} frames meanwhile); a frame with them: {:?}",
        frame.elapsed() / 10
    );
}
