//! "Choose from my buckets" on the setup form: the account's buckets, listed off the window's
//! thread once an AccessKey is typed, and what picking one does to the form (the bucket, and
//! the region so the endpoint follows). The manual bucket field stays beside it for keys that
//! may not list buckets (a RAM user limited to one bucket).

use egui::RichText;

use super::background::TestOutcome;
use super::i18n::{Lang, Tr};
use super::settings::SettingsForm;
use super::settings_ui::test_text;
use crate::engine::Connection;
use crate::oss::endpoint::Endpoint;
use crate::oss::listing::BucketSummary;
use crate::oss::regions::{REGIONS, Region};
use crate::oss::sign::SignatureVersion;

/// A bucket as the picker shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedBucket {
    pub name: String,
    /// The V4 signing region, `cn-hangzhou`; empty when the answer did not say.
    pub region: String,
}

impl From<&BucketSummary> for ListedBucket {
    fn from(b: &BucketSummary) -> Self {
        Self {
            name: b.name.clone(),
            region: b.signing_region(),
        }
    }
}

/// Where the list stands. `generation` tells a late answer to an earlier request from the
/// answer to the latest one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketList {
    pub generation: u64,
    pub state: ListState,
    /// Which credentials the list or its failure belongs to (a hash: no second copy of the
    /// secret), so typing other ones clears what no longer applies.
    asked_with: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ListState {
    #[default]
    Idle,
    Listing,
    Listed {
        buckets: Vec<ListedBucket>,
        /// Set when the picked bucket's region could not be set: the user picks it by hand.
        unplaced: Option<String>,
    },
    Failed(TestOutcome),
}

impl BucketList {
    /// Starts a new request with the form's credentials; answers to earlier ones are ignored
    /// from now on.
    pub fn start(&mut self, form: &SettingsForm) -> u64 {
        self.generation += 1;
        self.state = ListState::Listing;
        self.asked_with = credentials_hash(form);
        self.generation
    }

    /// Forgets a list or a failure that was for other credentials than the form's now.
    pub fn follow(&mut self, form: &SettingsForm) {
        if self.state != ListState::Idle && self.asked_with != credentials_hash(form) {
            self.reset();
        }
    }

    /// Takes the answer to request `generation`, unless a newer one was made since.
    pub fn answer(&mut self, generation: u64, result: Result<Vec<ListedBucket>, TestOutcome>) {
        if generation != self.generation || self.state != ListState::Listing {
            return;
        }
        self.state = match result {
            Ok(mut buckets) => {
                buckets.sort_by(|a, b| a.name.cmp(&b.name));
                ListState::Listed {
                    buckets,
                    unplaced: None,
                }
            }
            Err(outcome) => ListState::Failed(outcome),
        };
    }

    /// Forgets the list (the form was opened again).
    pub fn reset(&mut self) {
        self.generation += 1;
        self.state = ListState::Idle;
    }

    /// Puts the listed bucket `index` into the form.
    pub fn pick(&mut self, index: usize, form: &mut SettingsForm) {
        if let ListState::Listed { buckets, unplaced } = &mut self.state
            && let Some(b) = buckets.get(index)
        {
            *unplaced = match apply(form, b) {
                Picked::Placed => None,
                Picked::RegionUnknown => Some(b.name.clone()),
            };
        }
    }
}

fn credentials_hash(form: &SettingsForm) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match form.credentials() {
        Some(c) => {
            c.access_key_id.hash(&mut h);
            c.access_key_secret.hash(&mut h);
            c.security_token.hash(&mut h);
        }
        None => 0u8.hash(&mut h),
    }
    h.finish()
}

/// What picking did to the form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picked {
    /// The bucket is set, and the region too unless a custom endpoint is in use (the user's
    /// own address is kept as it is).
    Placed,
    /// The bucket is set but its region could not be told: the user picks the region.
    RegionUnknown,
}

/// Sets the form's bucket to `b`, and its region so the endpoint follows. A region missing from
/// [`REGIONS`] is still set when its public endpoint (`oss-<region>.aliyuncs.com`) is a valid
/// address; an empty or odd one is left for the user to pick.
pub fn apply(form: &mut SettingsForm, b: &ListedBucket) -> Picked {
    form.bucket = b.name.clone();
    if form.use_custom_endpoint {
        return Picked::Placed;
    }
    if Region::by_id(&b.region).is_some() || derivable(&b.region) {
        form.region = b.region.clone();
        Picked::Placed
    } else {
        Picked::RegionUnknown
    }
}

/// Whether `region` names a public endpoint that gives back the same region.
fn derivable(region: &str) -> bool {
    let plain = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    plain
        && Endpoint::parse(&format!("oss-{region}.aliyuncs.com"))
            .is_ok_and(|e| e.region().as_deref() == Some(region))
}

/// Where to ask for the list: the custom endpoint when one is typed, else the region's (any
/// region's endpoint answers ListBuckets with the buckets of every region).
pub fn listing_connection(form: &SettingsForm) -> Connection {
    let custom = form.endpoint.trim();
    let region = form.region.trim();
    let endpoint = if form.use_custom_endpoint && !custom.is_empty() {
        custom.to_owned()
    } else {
        Region::by_id(region)
            .map(|r| r.endpoint())
            .unwrap_or_else(|| format!("oss-{region}.aliyuncs.com"))
    };
    Connection {
        endpoint,
        region: Some(region.to_owned()).filter(|r| !r.is_empty()),
        signature: SignatureVersion::V4,
        path_style: form.use_custom_endpoint && form.path_style,
    }
}

/// The plain words for a failed listing: a key that may not list is told to type the name.
pub fn failure_text(t: &Tr, outcome: &TestOutcome) -> String {
    match outcome {
        TestOutcome::NoPermission => t.list_denied.to_owned(),
        other => test_text(t, other),
    }
}

/// A region as the list shows it: its name in the window's language, else its id.
pub fn region_label(lang: Lang, id: &str) -> String {
    match REGIONS.iter().find(|r| r.id == id) {
        Some(r) => crate::text::pick(lang, r.en, r.zh).to_owned(),
        None if id.is_empty() => "?".to_owned(),
        None => id.to_owned(),
    }
}

/// What the user pressed in the picker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickerAction {
    None,
    List,
    Pick(usize),
}

/// The button, the spinner, the list or the message, under the bucket field.
pub fn picker_ui(
    ui: &mut egui::Ui,
    t: &Tr,
    lang: Lang,
    form: &SettingsForm,
    list: &BucketList,
) -> PickerAction {
    let mut action = PickerAction::None;
    let can_list = form.credentials().is_some() && list.state != ListState::Listing;
    ui.horizontal(|ui| {
        let button = ui
            .add_enabled(can_list, egui::Button::new(t.choose_bucket))
            .on_hover_text(t.choose_bucket_tip)
            .on_disabled_hover_text(t.choose_bucket_needs_key);
        if button.clicked() {
            action = PickerAction::List;
        }
        if list.state == ListState::Listing {
            ui.spinner();
            ui.label(t.listing_buckets);
        }
    });
    match &list.state {
        ListState::Idle | ListState::Listing => {}
        ListState::Failed(outcome) => {
            ui.colored_label(ui.visuals().error_fg_color, failure_text(t, outcome));
        }
        ListState::Listed { buckets, .. } if buckets.is_empty() => {
            ui.label(RichText::new(t.no_buckets).weak());
        }
        ListState::Listed { buckets, unplaced } => {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                // As wide as the fields above, with the frame's margins.
                ui.set_width(306.0);
                egui::ScrollArea::vertical()
                    .id_salt("bucket-list")
                    .max_height(160.0)
                    .auto_shrink([false, true])
                    .show(ui, |ui| {
                        // Rows as wide as the list, so the whole row is the target.
                        ui.with_layout(egui::Layout::top_down_justified(egui::Align::LEFT), |ui| {
                            for (i, b) in buckets.iter().enumerate() {
                                let region = region_label(lang, &b.region);
                                let text = format!("{} — {region}", b.name);
                                let selected = form.bucket.trim() == b.name;
                                if ui.selectable_label(selected, text).clicked() {
                                    action = PickerAction::Pick(i);
                                }
                            }
                        });
                    });
            });
            if let Some(name) = unplaced {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    t.bucket_region_unknown.replace("{name}", name),
                );
            }
        }
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::i18n::tr;
    use crate::app::settings::AppSettings;

    fn form() -> SettingsForm {
        SettingsForm::from_settings(&AppSettings::default(), None)
    }

    fn listed(name: &str, region: &str) -> ListedBucket {
        ListedBucket {
            name: name.into(),
            region: region.into(),
        }
    }

    #[test]
    fn a_listed_bucket_reads_its_region_from_either_field() {
        let b = BucketSummary {
            name: "photos".into(),
            location: "oss-cn-shanghai".into(),
            ..Default::default()
        };
        assert_eq!(ListedBucket::from(&b), listed("photos", "cn-shanghai"));
        let b = BucketSummary {
            region: "ap-southeast-1".into(),
            ..b
        };
        assert_eq!(ListedBucket::from(&b), listed("photos", "ap-southeast-1"));
    }

    #[test]
    fn picking_sets_the_bucket_and_the_region_so_the_endpoint_follows() {
        let mut f = form();
        assert_eq!(
            apply(&mut f, &listed("photos", "cn-shanghai")),
            Picked::Placed
        );
        assert_eq!(
            (f.bucket.as_str(), f.region.as_str()),
            ("photos", "cn-shanghai")
        );
        f.access_key_id = "id".into();
        f.secret = "s".into();
        let s = f
            .validate(tr(Lang::En), Lang::En, &AppSettings::default())
            .unwrap();
        assert_eq!(s.endpoint(), "oss-cn-shanghai.aliyuncs.com");
    }

    #[test]
    fn a_region_we_do_not_list_is_set_when_its_endpoint_can_be_made() {
        let mut f = form();
        assert_eq!(apply(&mut f, &listed("far", "eu-south-9")), Picked::Placed);
        assert_eq!(f.region, "eu-south-9");
        for odd in ["", "Bad Region", "accelerate", "x.y"] {
            let mut f = form();
            assert_eq!(
                apply(&mut f, &listed("odd", odd)),
                Picked::RegionUnknown,
                "{odd:?}"
            );
            assert_eq!(
                (f.bucket.as_str(), f.region.as_str()),
                ("odd", "cn-hangzhou")
            );
        }
    }

    #[test]
    fn a_custom_endpoint_is_kept_and_only_the_bucket_changes() {
        let mut f = form();
        f.use_custom_endpoint = true;
        f.endpoint = "http://127.0.0.1:9000".into();
        assert_eq!(
            apply(&mut f, &listed("photos", "cn-shanghai")),
            Picked::Placed
        );
        assert_eq!(f.bucket, "photos");
        assert_eq!(f.region, "cn-hangzhou");
        assert_eq!(f.endpoint, "http://127.0.0.1:9000");
    }

    #[test]
    fn only_the_latest_answer_counts() {
        let mut list = BucketList::default();
        let mut f = form();
        f.access_key_id = "id".into();
        f.secret = "secret".into();
        let first = list.start(&f);
        let second = list.start(&f);
        list.answer(first, Ok(vec![listed("old", "cn-hangzhou")]));
        assert_eq!(list.state, ListState::Listing);
        list.answer(
            second,
            Ok(vec![listed("zeta", "cn-hangzhou"), listed("alpha", "")]),
        );
        let ListState::Listed { buckets, .. } = &list.state else {
            panic!("{list:?}");
        };
        assert_eq!(buckets[0].name, "alpha");
        list.pick(0, &mut f);
        assert_eq!(f.bucket, "alpha");
        assert!(matches!(
            &list.state,
            ListState::Listed { unplaced: Some(n), .. } if n == "alpha"
        ));
        // Picking changes no credentials, so the list stays; another secret clears it.
        list.follow(&f);
        assert!(matches!(list.state, ListState::Listed { .. }));
        f.secret = "other".into();
        list.follow(&f);
        assert_eq!(list.state, ListState::Idle);
        list.answer(second, Err(TestOutcome::NoNetwork));
        assert_eq!(list.state, ListState::Idle);
    }

    #[test]
    fn the_list_is_asked_where_the_form_points() {
        let mut f = form();
        f.region = "cn-beijing".into();
        f.path_style = true;
        let c = listing_connection(&f);
        assert_eq!(c.endpoint, "oss-cn-beijing.aliyuncs.com");
        assert_eq!(c.region.as_deref(), Some("cn-beijing"));
        assert!(!c.path_style);
        f.use_custom_endpoint = true;
        f.endpoint = " http://127.0.0.1:9000 ".into();
        let c = listing_connection(&f);
        assert_eq!(c.endpoint, "http://127.0.0.1:9000");
        assert!(c.path_style);
    }

    #[test]
    fn a_key_that_may_not_list_is_told_to_type_the_name() {
        let t = tr(Lang::En);
        assert!(failure_text(t, &TestOutcome::NoPermission).contains("type the bucket name"));
        assert_eq!(
            failure_text(t, &TestOutcome::WrongSecret),
            t.test_wrong_secret
        );
    }
}
