//! "Choose from my buckets" on the setup form: the account's buckets, listed off the window's
//! thread once an AccessKey is typed, and what picking one does to the form (the bucket, and
//! the region so the endpoint follows). The manual bucket field stays beside it for keys that
//! may not list buckets (a RAM user limited to one bucket); for those, "Find its region" asks
//! OSS where the typed bucket is, so nobody has to know its region.

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
    /// "Find its region" for the typed bucket name.
    pub locate: Locate,
}

/// Where "Find its region" stands; each state names the bucket it is about, so a message
/// about another name than the one in the field is not shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Locate {
    #[default]
    Idle,
    Locating {
        bucket: String,
    },
    /// The region was found and set in the form.
    Found {
        bucket: String,
        region: String,
    },
    /// OSS named a region we cannot make an endpoint of: the user picks it.
    Unplaced {
        bucket: String,
    },
    Failed {
        bucket: String,
        outcome: TestOutcome,
    },
}

impl Locate {
    fn bucket(&self) -> Option<&str> {
        match self {
            Locate::Idle => None,
            Locate::Locating { bucket }
            | Locate::Found { bucket, .. }
            | Locate::Unplaced { bucket }
            | Locate::Failed { bucket, .. } => Some(bucket),
        }
    }
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

    /// Starts finding the region of the form's bucket; answers to earlier requests are ignored
    /// from now on.
    pub fn start_locate(&mut self, form: &SettingsForm) -> u64 {
        self.generation += 1;
        self.asked_with = credentials_hash(form);
        self.locate = Locate::Locating {
            bucket: form.bucket.trim().to_owned(),
        };
        self.generation
    }

    /// Takes where OSS says the bucket is, and sets the form's region to it.
    pub fn located(
        &mut self,
        generation: u64,
        result: Result<String, TestOutcome>,
        form: &mut SettingsForm,
    ) {
        let Locate::Locating { bucket } = &self.locate else {
            return;
        };
        if generation != self.generation {
            return;
        }
        let bucket = bucket.clone();
        self.locate = match result {
            Ok(region) => {
                let listed = ListedBucket {
                    name: bucket.clone(),
                    region: region.clone(),
                };
                match apply(form, &listed) {
                    Picked::Placed => Locate::Found { bucket, region },
                    Picked::RegionUnknown => Locate::Unplaced { bucket },
                }
            }
            Err(outcome) => Locate::Failed { bucket, outcome },
        };
    }

    /// Whether a list or a region is being asked for.
    pub fn busy(&self) -> bool {
        self.state == ListState::Listing || matches!(self.locate, Locate::Locating { .. })
    }

    /// Forgets a list or a failure that was for other credentials than the form's now.
    pub fn follow(&mut self, form: &SettingsForm) {
        let asked = self.state != ListState::Idle || self.locate != Locate::Idle;
        if asked && self.asked_with != credentials_hash(form) {
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
        self.locate = Locate::Idle;
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
/// address; an empty or odd one is left for the user to pick. A custom endpoint is kept as
/// typed, but its signing region follows the bucket too: OSS refuses a V4 request on a bucket
/// signed for another region.
pub fn apply(form: &mut SettingsForm, b: &ListedBucket) -> Picked {
    form.bucket = b.name.clone();
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

/// Where to ask where a bucket is: as for the list, but signed with V1, which names no region
/// and so is not refused for naming the wrong one.
pub fn locating_connection(form: &SettingsForm) -> Connection {
    Connection {
        signature: SignatureVersion::V1,
        ..listing_connection(form)
    }
}

/// The region an OSS error points to: a request on a bucket that lives in another region is
/// refused with the endpoint to use (`oss-cn-shanghai.aliyuncs.com`), which names it.
pub fn region_from_hint(e: &crate::oss::error::Error) -> Option<String> {
    let crate::oss::error::Error::Service(s) = e else {
        return None;
    };
    let hint = s.endpoint.as_deref()?;
    Endpoint::parse(hint).ok()?.region()
}

/// The plain words for a failed listing: a key that may not list is told to type the name.
pub fn failure_text(t: &Tr, outcome: &TestOutcome) -> String {
    match outcome {
        TestOutcome::NoPermission => t.list_denied.to_owned(),
        other => test_text(t, other),
    }
}

/// The plain words for a region that could not be found.
pub fn locate_failure_text(t: &Tr, outcome: &TestOutcome) -> String {
    match outcome {
        TestOutcome::NoSuchBucket => t.locate_no_bucket.to_owned(),
        TestOutcome::NoPermission => t.locate_denied.to_owned(),
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
    /// Find the region of the bucket typed in the field.
    Locate,
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
    let can_ask = form.credentials().is_some() && !list.busy();
    let typed = form.bucket.trim();
    ui.horizontal(|ui| {
        let button = ui
            .add_enabled(can_ask, egui::Button::new(t.choose_bucket))
            .on_hover_text(t.choose_bucket_tip)
            .on_disabled_hover_text(t.choose_bucket_needs_key);
        if button.clicked() {
            action = PickerAction::List;
        }
        // Only worth offering when the list cannot help: the key may not list, or the typed
        // bucket is not in it.
        let listed = matches!(&list.state, ListState::Listed { buckets, .. }
            if buckets.iter().any(|b| b.name == typed));
        if !typed.is_empty() && !listed {
            let find = ui
                .add_enabled(can_ask, egui::Button::new(t.find_region))
                .on_hover_text(t.find_region_tip)
                .on_disabled_hover_text(t.choose_bucket_needs_key);
            if find.clicked() {
                action = PickerAction::Locate;
            }
        }
        if list.state == ListState::Listing {
            ui.spinner();
            ui.label(t.listing_buckets);
        }
        if matches!(list.locate, Locate::Locating { .. }) {
            ui.spinner();
            ui.label(t.finding_region);
        }
    });
    if list.locate.bucket() == Some(typed) {
        match &list.locate {
            Locate::Found { bucket, region } => {
                let text = t
                    .region_found
                    .replace("{name}", bucket)
                    .replace("{region}", &region_label(lang, region));
                ui.label(RichText::new(text).color(ui.visuals().hyperlink_color));
            }
            Locate::Unplaced { bucket } => {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    t.bucket_region_unknown.replace("{name}", bucket),
                );
            }
            Locate::Failed { outcome, .. } => {
                ui.colored_label(ui.visuals().error_fg_color, locate_failure_text(t, outcome));
            }
            Locate::Idle | Locate::Locating { .. } => {}
        }
    }
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
    fn a_custom_endpoint_is_kept_and_signs_for_the_buckets_region() {
        let mut f = form();
        f.use_custom_endpoint = true;
        f.endpoint = "http://127.0.0.1:9000".into();
        assert_eq!(
            apply(&mut f, &listed("photos", "cn-shanghai")),
            Picked::Placed
        );
        assert_eq!(f.bucket, "photos");
        assert_eq!(f.region, "cn-shanghai");
        assert_eq!(f.endpoint, "http://127.0.0.1:9000");
    }

    #[test]
    fn a_bucket_elsewhere_is_found_from_the_endpoint_oss_points_to() {
        // OSS's answer to a request on a bucket in another region than the endpoint's.
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>AccessDenied</Code>
  <Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message>
  <RequestId>68AE8538E001B43935D42793</RequestId>
  <HostId>photos.oss-cn-hangzhou.aliyuncs.com</HostId>
  <Bucket>photos</Bucket>
  <Endpoint>oss-cn-shanghai.aliyuncs.com</Endpoint>
  <EC>0003-00001403</EC>
</Error>"#;
        let e = crate::oss::error::Error::service(crate::oss::error::ServiceError::from_response(
            403, None, body, 0,
        ));
        assert_eq!(region_from_hint(&e).as_deref(), Some("cn-shanghai"));
        let plain =
            crate::oss::error::Error::service(crate::oss::error::ServiceError::from_response(
                403,
                None,
                "<Error><Code>AccessDenied</Code></Error>",
                0,
            ));
        assert_eq!(region_from_hint(&plain), None);
    }

    #[test]
    fn a_found_region_is_set_and_a_late_answer_is_ignored() {
        let mut list = BucketList::default();
        let mut f = form();
        f.access_key_id = "id".into();
        f.secret = "secret".into();
        f.bucket = " photos ".into();
        let first = list.start_locate(&f);
        assert!(list.busy());
        let second = list.start_locate(&f);
        list.located(first, Ok("cn-beijing".into()), &mut f);
        assert_eq!(f.region, "cn-hangzhou");
        list.located(second, Ok("cn-shanghai".into()), &mut f);
        assert_eq!(
            (f.bucket.as_str(), f.region.as_str()),
            ("photos", "cn-shanghai")
        );
        assert_eq!(
            list.locate,
            Locate::Found {
                bucket: "photos".into(),
                region: "cn-shanghai".into()
            }
        );
        assert!(!list.busy());
        let third = list.start_locate(&f);
        list.located(third, Err(TestOutcome::NoSuchBucket), &mut f);
        assert!(matches!(list.locate, Locate::Failed { .. }));
        assert_eq!(f.region, "cn-shanghai");
        f.secret = "other".into();
        list.follow(&f);
        assert_eq!(list.locate, Locate::Idle);
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
