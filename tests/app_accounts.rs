//! Several connections in the window, driven with egui_kittest against two local servers that
//! each accept only their own key (two Alibaba accounts): the switcher in the menu bar sends
//! new drops to the connection picked, signed with its key, while rows already queued keep
//! theirs; removing a connection asks first and deletes its secret.

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable as _;
use oss_uploader::app::connections::ConnectionSettings;
use oss_uploader::app::i18n::Lang;
use oss_uploader::app::settings::{AppSettings, SecretPlace};
use oss_uploader::engine::JobState;
use oss_uploader::oss::client::Client;
use oss_uploader::oss::sign::Credentials;
use oss_uploader::secrets::{Secrets, StoreChoice};

mod app_rig;
mod common;
use app_rig::*;
use common::{TestServer, data, object};

const WORK_BUCKET: &str = "work-bucket";
const WORK_KEY_ID: &str = "work-ak";

fn work_key() -> Credentials {
    Credentials::new(WORK_KEY_ID, "work-secret")
}

/// The rig's server as the active connection "Home" (its key from the environment), and
/// `work` as the connection "Work", its secret in the private file.
fn two_connections(rig: &Rig, work: &TestServer) -> oss_uploader::app::AppOptions {
    rig.save_settings_with(|s| {
        s.name = "Home".into();
        s.other_connections.push(ConnectionSettings {
            account: "c1".into(),
            name: "Work".into(),
            region: "cn-hangzhou".into(),
            custom_endpoint: Some(work.endpoint()),
            path_style: true,
            access_key_id: WORK_KEY_ID.into(),
            secret_place: SecretPlace::File,
            bucket: WORK_BUCKET.into(),
            prefix: "w".into(),
            custom_domain: None,
        });
    });
    let options = rig.options(Lang::En, true);
    let w = work_key();
    options
        .secrets
        .as_ref()
        .unwrap()
        .store(
            &w.access_key_id,
            &w.access_key_secret,
            None,
            StoreChoice::File,
        )
        .unwrap();
    options
}

fn work_server(rig: &Rig) -> TestServer {
    rig.rt.block_on(TestServer::start_with(|c| {
        c.with_credentials(work_key()).with_bucket(WORK_BUCKET)
    }))
}

#[test]
fn switching_account_sends_new_drops_with_that_accounts_key() {
    let rig = Rig::new();
    let work = work_server(&rig);
    let mut h = harness(two_connections(&rig, &work));
    h.step();
    let home_file = rig.file("home.txt", 1000);
    drop_files(&mut h, &[home_file]);
    wait_all_done(&mut h, "the first drop uploaded to Home", 1);

    // The switcher in the menu bar shows the active connection; pick the other.
    h.get_by_role_and_label(Role::ComboBox, "Connection")
        .click();
    h.run_steps(2);
    h.get_by_label("Work").click();
    h.run_steps(2);
    assert_eq!(h.state().app().settings().name, "Work");

    let work_file = common::write_file(rig.files.path(), "work.txt", &data(2000, 7));
    drop_files(&mut h, &[work_file]);
    wait_all_done(&mut h, "the second drop uploaded to Work", 2);
    let accounts: Vec<&str> = h
        .state()
        .app()
        .queue()
        .rows()
        .iter()
        .map(|r| r.account.as_str())
        .collect();
    assert_eq!(accounts, ["", "c1"]);
    // Each landed in its own account's bucket: Work's server takes only Work's key.
    let client = Client::new(work.connection().client_config(work_key()).unwrap()).unwrap();
    assert_eq!(
        rig.rt.block_on(object(&client, WORK_BUCKET, "w/work.txt")),
        data(2000, 7)
    );
    assert_eq!(rig.stored("in/home.txt"), data(1000, 0));
    // The choice is saved: the next start opens on Work.
    step_until(
        &mut h,
        "the switch saved",
        common::WAIT,
        || matches!(AppSettings::load(rig.data.path()), Ok(Some(s)) if s.account == "c1"),
    );
}

#[test]
fn removing_a_connection_asks_first_and_deletes_its_secret() {
    let rig = Rig::new();
    let work = work_server(&rig);
    let mut h = harness(two_connections(&rig, &work));
    h.step();
    let secrets = Secrets::new(rig.data.path());
    let file = secrets.file_path(WORK_KEY_ID);
    assert!(file.exists());
    h.get_by_role_and_label(Role::ComboBox, "Connection")
        .click();
    h.run_steps(2);
    h.get_by_label("Work").click();
    h.run_steps(2);
    h.get_by_label("Settings").click();
    h.run_steps(2);
    h.get_by_label("Remove connection").click();
    h.run_steps(2);
    // Asked first: nothing is gone yet.
    h.get_by_label_contains("Remove \"Work\"?");
    assert!(file.exists());
    h.get_by_label("Remove").click();
    h.run_steps(2);
    step_until(&mut h, "the secret deleted", common::WAIT, || {
        !file.exists()
    });
    step_until(
        &mut h,
        "the settings saved",
        common::WAIT,
        || matches!(AppSettings::load(rig.data.path()), Ok(Some(s)) if s.other_connections.is_empty() && s.name == "Home"),
    );
    // One connection left: no switcher.
    assert!(
        h.query_by_role_and_label(Role::ComboBox, "Connection")
            .is_none()
    );
}

#[test]
fn a_connection_is_added_under_a_name_of_its_own() {
    let rig = Rig::new();
    let work = work_server(&rig);
    rig.save_settings(None);
    let mut h = harness(rig.options(Lang::En, true));
    h.step();
    // One connection: no switcher.
    assert!(
        h.query_by_role_and_label(Role::ComboBox, "Connection")
            .is_none()
    );
    h.get_by_label("Settings").click();
    h.run_steps(2);
    h.get_by_label("Add connection").click();
    h.run_steps(2);
    // The first connection is called after its bucket: the name is taken.
    h.state_mut().app.as_mut().unwrap().form_mut().name = "App-Bucket".into();
    h.run_steps(2);
    h.get_by_label_contains("Another connection is already called \"App-Bucket\"");
    {
        let form = h.state_mut().app.as_mut().unwrap().form_mut();
        form.name = "Work".into();
        form.access_key_id = WORK_KEY_ID.into();
        form.secret = work_key().access_key_secret;
        form.bucket = WORK_BUCKET.into();
        form.use_custom_endpoint = true;
        form.endpoint = work.endpoint();
        form.path_style = true;
    }
    h.run_steps(2);
    assert!(h.query_by_label_contains("already called").is_none());
    h.get_by_label("Save").click();
    wait_for_label(&mut h, "Where should the secret be kept?");
    h.get_by_label("Keep for this session only").click();
    step_until(
        &mut h,
        "the new connection saved",
        common::WAIT,
        || matches!(AppSettings::load(rig.data.path()), Ok(Some(s)) if s.name == "Work" && s.other_connections.len() == 1),
    );
    // The saving thread writes the file before it tells the window, which applies the new
    // connection only then.
    wait_until(&mut h, "the new connection applied", |app| {
        app.settings().name == "Work"
    });
    // The new one is active and the switcher shows both.
    h.get_by_role_and_label(Role::ComboBox, "Connection")
        .click();
    h.run_steps(2);
    h.get_by_label("app-bucket");
    h.get_by_label("Work").click();
    h.run_steps(2);
    let file = rig.file("new.txt", 500);
    drop_files(&mut h, &[file]);
    wait_all_done(&mut h, "the drop uploaded to Work", 1);
    let client = Client::new(work.connection().client_config(work_key()).unwrap()).unwrap();
    assert_eq!(
        rig.rt.block_on(object(&client, WORK_BUCKET, "new.txt")),
        data(500, 0)
    );
}

/// Copied links are made with each row's own connection: its key (Work's row is signed with
/// Work's key while Home is active, and opens) and its custom domain (Home's).
#[test]
fn copied_links_use_each_rows_connection_and_its_custom_domain() {
    let rig = Rig::new();
    let work = work_server(&rig);
    let options = two_connections(&rig, &work);
    let mut settings = AppSettings::load(rig.data.path()).unwrap().unwrap();
    settings.custom_domain = Some("https://files.example.com".into());
    settings.save(rig.data.path()).unwrap();
    let mut h = harness(options);
    h.step();
    drop_files(&mut h, &[rig.file("home.txt", 1000)]);
    wait_all_done(&mut h, "Home's file uploaded", 1);
    let switch = |h: &mut egui_kittest::Harness<'_, Shell>, to: &str| {
        h.get_by_role_and_label(Role::ComboBox, "Connection")
            .click();
        h.run_steps(2);
        h.get_by_label(to).click();
        h.run_steps(2);
    };
    switch(&mut h, "Work");
    let work_file = common::write_file(rig.files.path(), "work.txt", &data(2000, 7));
    drop_files(&mut h, &[work_file]);
    wait_all_done(&mut h, "Work's file uploaded", 2);
    switch(&mut h, "Home");

    let copied = copy_two_rows(&mut h, "home.txt", "work.txt");
    let lines: Vec<&str> = copied.lines().collect();
    assert_eq!(lines.len(), 2, "{copied}");
    assert!(
        lines[0].starts_with("https://files.example.com/in/home.txt?x-oss-"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("x-oss-credential=test-ak%2F"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("{}/{WORK_BUCKET}/w/work.txt?", work.endpoint())),
        "{}",
        lines[1]
    );
    assert_eq!(fetch(lines[1]), data(2000, 7));
}

/// An upload of Work interrupted by closing the window resumes, after a restart with Home
/// active, with Work's key (kept in the private file) and lands in Work's bucket.
#[test]
fn a_restart_resumes_an_upload_with_its_own_connection() {
    let rig = Rig::new();
    let work = work_server(&rig);
    let options = two_connections(&rig, &work);
    let mut settings = AppSettings::load(rig.data.path()).unwrap().unwrap();
    settings.bandwidth_limit = Some(256 * 1024);
    settings.save(rig.data.path()).unwrap();
    let f = rig.file("long.bin", 2_000_000);
    {
        let mut h = harness(options.clone());
        h.step();
        h.get_by_role_and_label(Role::ComboBox, "Connection")
            .click();
        h.run_steps(2);
        h.get_by_label("Work").click();
        h.run_steps(2);
        drop_files(&mut h, &[f]);
        wait_until(&mut h, "some bytes confirmed", |app| {
            app.queue().rows().first().is_some_and(|r| r.confirmed > 0)
        });
        h.get_by_role_and_label(Role::ComboBox, "Connection")
            .click();
        h.run_steps(2);
        h.get_by_label("Home").click();
        h.run_steps(2);
        // The window goes away mid-upload with Home active.
    }
    let mut h = harness(options);
    wait_until(&mut h, "the restored row", |app| {
        state_of(app, 0) == Some(JobState::Interrupted) && app.queue().waiting_restored() == 1
    });
    assert_eq!(h.state().app().settings().name, "Home");
    assert_eq!(h.state().app().queue().rows()[0].account, "c1");
    h.get_all_by_label("Resume all")
        .next()
        .expect("the banner's button")
        .click();
    wait_until(&mut h, "verified after resume", |app| {
        state_of(app, 0) == Some(JobState::Done)
    });
    let client = Client::new(work.connection().client_config(work_key()).unwrap()).unwrap();
    assert_eq!(
        rig.rt
            .block_on(object(&client, WORK_BUCKET, "w/long.bin"))
            .len(),
        2_000_000
    );
}
