//! Painting the setup screen and the settings: region (searchable), endpoint, keys (with where
//! to find them), bucket, destination and transfer options, each with a tooltip and its
//! validation message under it; and which fields' messages show while the user types. Only
//! paints and returns what the user pressed.

use egui::{RichText, TextEdit};

use super::background::TestOutcome;
use super::bucket_picker::{self, BucketList, PickerAction};
use super::i18n::{Lang, LanguageChoice, Tr};
use super::settings::{Field, SettingsForm};
use crate::engine::ExistingPolicy;
use crate::engine::pool::{MAX_IN_FLIGHT, START_IN_FLIGHT};
use crate::oss::regions::REGIONS;

/// What the user pressed on the form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormAction {
    None,
    Save,
    Cancel,
    Test,
    /// List the account's buckets.
    ListBuckets,
    /// Put the listed bucket with this index into the form.
    PickBucket(usize),
    /// Open the folder browser on the form's bucket.
    Browse,
    /// Find the region of the bucket typed in the form.
    LocateBucket,
}

/// Where Test connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestState {
    Idle,
    Running,
    Done(TestOutcome),
}

/// The plain-words result of a connection test.
pub fn test_text(t: &Tr, outcome: &TestOutcome) -> String {
    match outcome {
        TestOutcome::Ok(abilities) => abilities_text(t, abilities),
        TestOutcome::WrongKeyId => t.test_wrong_key.to_owned(),
        TestOutcome::WrongSecret => t.test_wrong_secret.to_owned(),
        TestOutcome::TokenExpired => t.test_token.to_owned(),
        TestOutcome::KeyDisabled => t.test_key_disabled.to_owned(),
        TestOutcome::NoSuchBucket => t.test_no_bucket.to_owned(),
        TestOutcome::NoPermission => t.test_no_permission.to_owned(),
        TestOutcome::ClockOff => t.test_clock.to_owned(),
        TestOutcome::NoNetwork => t.test_no_network.to_owned(),
        TestOutcome::Timeout => t.test_timeout.to_owned(),
        TestOutcome::Certificate => t.test_certificate.to_owned(),
        TestOutcome::Other(m) => m.get(t.lang()).to_owned(),
    }
}

/// "Connected…", then what the key can and cannot do, in plain words.
fn abilities_text(t: &Tr, a: &super::background::Abilities) -> String {
    let all = [
        (a.upload, t.can_upload),
        (a.read, t.can_read),
        (a.list, t.can_list),
        (a.buckets, t.can_list_buckets),
    ];
    let pick = |want: bool| -> Vec<&str> {
        all.iter()
            .filter(|(v, _)| *v == Some(want))
            .map(|(_, what)| *what)
            .collect()
    };
    let mut out = t.test_ok.to_owned();
    for (list, sentence, last) in [
        (pick(true), t.test_can, t.list_and),
        (pick(false), t.test_cannot, t.list_or),
    ] {
        if !list.is_empty() {
            out.push(' ');
            out.push_str(&sentence.replace("{what}", &join_words(t, &list, last)));
        }
    }
    out
}

/// "a, b and c" / "a、b和c", with `last` ("and", "or") before the last.
fn join_words(t: &Tr, words: &[&str], last: &str) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., end] => format!("{}{last}{end}", rest.join(t.list_comma)),
    }
}

fn field_errors_ui(ui: &mut egui::Ui, errors: &[(Field, String)], field: Field) {
    for (_, message) in errors.iter().filter(|(f, _)| *f == field) {
        ui.colored_label(ui.visuals().error_fg_color, message);
    }
}

/// Where the AccessKey is made and found: the RAM console's AccessKey page.
pub const ACCESS_KEY_PAGE: &str = "https://ram.console.aliyun.com/manage/ak";

/// Whether the user changed what `field`'s message speaks of since the form opened: its
/// messages then show as they type, and go as soon as the value is right.
pub fn touched(start: &SettingsForm, now: &SettingsForm, field: Field) -> bool {
    match field {
        Field::Endpoint => {
            start.region != now.region
                || start.use_custom_endpoint != now.use_custom_endpoint
                || start.endpoint != now.endpoint
        }
        Field::KeyId => start.access_key_id != now.access_key_id,
        Field::Secret => start.secret != now.secret,
        Field::Bucket => start.bucket != now.bucket,
        Field::Prefix => start.prefix != now.prefix,
        Field::PartSize => start.part_size != now.part_size,
        Field::Threads => start.threads != now.threads,
        Field::Jobs => start.jobs != now.jobs,
        Field::Bandwidth => start.bandwidth != now.bandwidth,
        Field::Name => start.name != now.name || start.bucket != now.bucket,
        Field::CustomDomain => start.custom_domain != now.custom_domain,
    }
}

/// Whether region `r` matches what was typed in the list's search box (any part of its id or
/// either name, any case).
pub fn region_matches(r: &crate::oss::regions::Region, query: &str) -> bool {
    let q = query.trim().to_lowercase();
    q.is_empty()
        || r.id.to_lowercase().contains(&q)
        || r.en.to_lowercase().contains(&q)
        || r.zh.contains(&q)
}

fn labelled_ui(ui: &mut egui::Ui, label: &str, tip: &str) -> egui::Id {
    ui.label(label).on_hover_text(tip).id
}

/// The whole form. `first_run` shows the welcome and hides Cancel.
#[allow(clippy::too_many_arguments)]
pub fn form_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    lang: Lang,
    form: &mut SettingsForm,
    errors: &[(Field, String)],
    test: &TestState,
    buckets: &BucketList,
    first_run: bool,
    demo: bool,
) -> FormAction {
    let mut action = FormAction::None;
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.set_max_width(640.0);
        if first_run {
            ui.heading(t.welcome_title);
            ui.label(t.welcome_body);
        } else {
            ui.heading(t.settings);
        }
        if demo {
            ui.label(RichText::new(t.demo_settings_note).italics());
        }
        ui.add_space(8.0);

        ui.strong(t.section_account);
        egui::Grid::new("account")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .min_col_width(160.0)
            .show(ui, |ui| {
                // The first connection is named after its bucket; names and a custom domain
                // wait for the settings, so setup stays short.
                if !first_run {
                    let _ = labelled_ui(ui, t.connection_name, t.connection_name_tip);
                    ui.vertical(|ui| {
                        ui.add(
                            TextEdit::singleline(&mut form.name)
                                .hint_text(t.connection_name_hint)
                                .desired_width(320.0),
                        )
                        .on_hover_text(t.connection_name_tip);
                        field_errors_ui(ui, errors, Field::Name);
                    });
                    ui.end_row();
                }

                let region_label = labelled_ui(ui, t.region, t.region_tip);
                ui.vertical(|ui| {
                    let selected = REGIONS
                        .iter()
                        .find(|r| r.id == form.region)
                        .map(|r| region_name(lang, r))
                        .unwrap_or_else(|| form.region.clone());
                    egui::ComboBox::from_id_salt("region")
                        .selected_text(selected)
                        .width(320.0)
                        .show_ui(ui, |ui| {
                            let id = ui.make_persistent_id("region-search");
                            let mut query: String =
                                ui.data_mut(|d| d.get_temp(id)).unwrap_or_default();
                            let search = ui.add(
                                TextEdit::singleline(&mut query)
                                    .hint_text(t.region_search)
                                    .desired_width(f32::INFINITY),
                            );
                            if query.is_empty() && !search.has_focus() {
                                search.request_focus();
                            }
                            let mut any = false;
                            for r in REGIONS.iter().filter(|r| region_matches(r, &query)) {
                                any = true;
                                ui.selectable_value(
                                    &mut form.region,
                                    r.id.to_owned(),
                                    region_name(lang, r),
                                );
                            }
                            if !any {
                                ui.label(RichText::new(t.region_none).weak());
                            }
                            ui.data_mut(|d| d.insert_temp(id, query));
                        })
                        .response
                        .labelled_by(region_label)
                        .on_hover_text(t.region_tip);
                    ui.checkbox(&mut form.use_custom_endpoint, t.custom_endpoint)
                        .on_hover_text(t.custom_endpoint_tip);
                    if form.use_custom_endpoint {
                        ui.add(
                            TextEdit::singleline(&mut form.endpoint)
                                .hint_text("https://oss-cn-hangzhou.aliyuncs.com")
                                .desired_width(320.0),
                        )
                        .on_hover_text(t.custom_endpoint_tip);
                        ui.checkbox(&mut form.path_style, t.path_style)
                            .on_hover_text(t.path_style_tip);
                    } else if let Some(r) = REGIONS.iter().find(|r| r.id == form.region) {
                        ui.label(RichText::new(r.endpoint()).weak());
                    } else if !form.region.trim().is_empty() {
                        // A region we do not list, set from a picked bucket.
                        let region = form.region.trim();
                        ui.label(RichText::new(format!("oss-{region}.aliyuncs.com")).weak());
                    }
                    field_errors_ui(ui, errors, Field::Endpoint);
                });
                ui.end_row();

                let _ = labelled_ui(ui, t.key_id, t.key_id_tip);
                ui.vertical(|ui| {
                    ui.add(TextEdit::singleline(&mut form.access_key_id).desired_width(320.0))
                        .on_hover_text(t.key_id_tip);
                    field_errors_ui(ui, errors, Field::KeyId);
                    ui.hyperlink_to(t.where_key, ACCESS_KEY_PAGE)
                        .on_hover_text(t.where_key_tip);
                });
                ui.end_row();

                let _ = labelled_ui(ui, t.secret, t.secret_tip);
                ui.vertical(|ui| {
                    ui.add(
                        TextEdit::singleline(&mut form.secret)
                            .password(true)
                            .desired_width(320.0),
                    )
                    .on_hover_text(t.secret_tip);
                    field_errors_ui(ui, errors, Field::Secret);
                    ui.checkbox(&mut form.use_sts, t.use_sts)
                        .on_hover_text(t.sts_tip);
                    if form.use_sts {
                        ui.add(
                            TextEdit::singleline(&mut form.token)
                                .password(true)
                                .hint_text(t.sts_token)
                                .desired_width(320.0),
                        )
                        .on_hover_text(t.sts_tip);
                    }
                });
                ui.end_row();

                let _ = labelled_ui(ui, t.bucket, t.bucket_tip);
                ui.vertical(|ui| {
                    ui.add(TextEdit::singleline(&mut form.bucket).desired_width(320.0))
                        .on_hover_text(t.bucket_tip);
                    field_errors_ui(ui, errors, Field::Bucket);
                    match bucket_picker::picker_ui(ui, t, lang, form, buckets) {
                        PickerAction::None => {}
                        PickerAction::List => action = FormAction::ListBuckets,
                        PickerAction::Pick(i) => action = FormAction::PickBucket(i),
                        PickerAction::Locate => action = FormAction::LocateBucket,
                    }
                });
                ui.end_row();
            });

        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let running = *test == TestState::Running;
            if ui
                .add_enabled(!running, egui::Button::new(t.test_connection))
                .on_hover_text(t.test_connection_tip)
                .clicked()
            {
                action = FormAction::Test;
            }
            match test {
                TestState::Idle => {}
                TestState::Running => {
                    ui.spinner();
                    ui.label(t.testing);
                }
                TestState::Done(outcome) => {
                    let color = if matches!(outcome, TestOutcome::Ok(a) if a.upload != Some(false))
                    {
                        egui::Color32::from_rgb(60, 170, 90)
                    } else {
                        ui.visuals().error_fg_color
                    };
                    ui.colored_label(color, test_text(t, outcome));
                }
            }
        });
        ui.add_space(12.0);

        ui.strong(t.section_upload);
        egui::Grid::new("upload")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .min_col_width(160.0)
            .show(ui, |ui| {
                let _ = labelled_ui(ui, t.prefix, t.prefix_tip);
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.add(
                            TextEdit::singleline(&mut form.prefix)
                                .hint_text(t.prefix_hint)
                                .desired_width(320.0),
                        )
                        .on_hover_text(t.prefix_tip);
                        let usable = form.credentials().is_some() && !form.bucket.trim().is_empty();
                        if ui
                            .add_enabled(usable, egui::Button::new(t.browser))
                            .on_hover_text(t.browser_tip)
                            .on_disabled_hover_text(t.browser_needs_bucket)
                            .clicked()
                        {
                            action = FormAction::Browse;
                        }
                    });
                    field_errors_ui(ui, errors, Field::Prefix);
                });
                ui.end_row();

                if !first_run {
                    let _ = labelled_ui(ui, t.custom_domain, t.custom_domain_tip);
                    ui.vertical(|ui| {
                        ui.add(
                            TextEdit::singleline(&mut form.custom_domain)
                                .hint_text("https://files.example.com")
                                .desired_width(320.0),
                        )
                        .on_hover_text(t.custom_domain_tip);
                        field_errors_ui(ui, errors, Field::CustomDomain);
                    });
                    ui.end_row();
                }

                let _ = labelled_ui(ui, t.existing, t.existing_tip);
                ui.horizontal(|ui| {
                    for (value, label, tip) in [
                        (ExistingPolicy::Overwrite, t.overwrite, t.existing_tip),
                        (
                            ExistingPolicy::SkipIdentical,
                            t.skip_identical,
                            t.skip_identical_tip,
                        ),
                        (ExistingPolicy::Skip, t.skip, t.existing_tip),
                        (ExistingPolicy::KeepBoth, t.keep_both, t.existing_tip),
                    ] {
                        ui.radio_value(&mut form.existing, value, label)
                            .on_hover_text(tip);
                    }
                });
                ui.end_row();

                let _ = labelled_ui(ui, t.bandwidth, t.bandwidth_tip);
                ui.vertical(|ui| {
                    ui.add(
                        TextEdit::singleline(&mut form.bandwidth)
                            .hint_text(t.unlimited)
                            .desired_width(120.0),
                    )
                    .on_hover_text(t.bandwidth_tip);
                    field_errors_ui(ui, errors, Field::Bandwidth);
                });
                ui.end_row();

                ui.label("");
                ui.vertical(|ui| {
                    ui.checkbox(&mut form.keep_awake, t.keep_awake)
                        .on_hover_text(t.keep_awake_tip);
                    ui.checkbox(&mut form.notify, t.notify)
                        .on_hover_text(t.notify_tip);
                });
                ui.end_row();

                let language_label = labelled_ui(ui, t.language, t.language_tip);
                egui::ComboBox::from_id_salt("language")
                    .selected_text(match form.language {
                        LanguageChoice::System => t.lang_system,
                        LanguageChoice::English => "English",
                        LanguageChoice::Chinese => "中文",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(
                            &mut form.language,
                            LanguageChoice::System,
                            t.lang_system,
                        );
                        ui.selectable_value(&mut form.language, LanguageChoice::English, "English");
                        ui.selectable_value(&mut form.language, LanguageChoice::Chinese, "中文");
                    })
                    .response
                    .labelled_by(language_label)
                    .on_hover_text(t.language_tip);
                ui.end_row();
            });
        ui.add_space(6.0);
        advanced_ui(ui, t, form, errors);

        ui.add_space(12.0);
        if !errors.is_empty() {
            ui.colored_label(ui.visuals().error_fg_color, t.fix_above);
        }
        ui.horizontal(|ui| {
            let save = if first_run { t.save_continue } else { t.save };
            if ui.button(RichText::new(save).strong()).clicked() {
                action = FormAction::Save;
            }
            if !first_run && ui.button(t.cancel).clicked() {
                action = FormAction::Cancel;
            }
        });
    });
    action
}

/// Part size and how many at once: folded away, since the automatic choice suits almost
/// everyone; opened by itself when one of its fields has a problem.
fn advanced_ui(ui: &mut egui::Ui, t: &Tr, form: &mut SettingsForm, errors: &[(Field, String)]) {
    let has_error = errors
        .iter()
        .any(|(f, _)| matches!(f, Field::PartSize | Field::Threads | Field::Jobs));
    egui::CollapsingHeader::new(t.advanced)
        .id_salt("advanced")
        .open(has_error.then_some(true))
        .show(ui, |ui| {
            egui::Grid::new("advanced-grid")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .min_col_width(148.0)
                .show(ui, |ui| {
                    let _ = labelled_ui(ui, t.part_size, t.part_size_tip);
                    ui.vertical(|ui| {
                        ui.add(
                            TextEdit::singleline(&mut form.part_size)
                                .hint_text(t.part_size_auto)
                                .desired_width(180.0),
                        )
                        .on_hover_text(t.part_size_tip);
                        field_errors_ui(ui, errors, Field::PartSize);
                    });
                    ui.end_row();

                    let tip = t
                        .automatic_tip
                        .replace("{start}", &START_IN_FLIGHT.to_string())
                        .replace("{max}", &MAX_IN_FLIGHT.to_string());
                    ui.label("");
                    ui.checkbox(&mut form.automatic, t.automatic)
                        .on_hover_text(tip);
                    ui.end_row();

                    let automatic = form.automatic;
                    for (label, tip, value, field) in [
                        (t.threads, t.threads_tip, &mut form.threads, Field::Threads),
                        (t.jobs, t.jobs_tip, &mut form.jobs, Field::Jobs),
                    ] {
                        let _ = labelled_ui(ui, label, tip);
                        ui.vertical(|ui| {
                            ui.add_enabled(
                                !automatic,
                                TextEdit::singleline(value).desired_width(120.0),
                            )
                            .on_hover_text(tip);
                            field_errors_ui(ui, errors, field);
                        });
                        ui.end_row();
                    }
                });
        });
}

fn region_name(lang: Lang, r: &crate::oss::regions::Region) -> String {
    match lang {
        Lang::En => format!("{} — {}", r.en, r.zh),
        Lang::Zh => format!("{} — {}", r.zh, r.en),
    }
}
