//! Sharing an uploaded file: every bucket is private by default, so the object's plain address
//! answers 403; a shared link is a presigned GET URL, built without I/O from the object (a
//! queue row's, or a file in the folder browser) and the connection's key, that works for as
//! long as the person picks (an hour, a day, or 7 days: OSS's limit), optionally making the
//! browser save the file under its own name. Ctrl+C and the dialog's default give the 7-day
//! link. When the plain address opens for anyone (the window asks with an unsigned HEAD: the
//! bucket or the object is public), the dialog offers it, never expiring, and starts on it.
//! Without a key (nothing saved yet) the plain address is all there is, and the dialog says it
//! opens only on a public bucket. A QR code of the link is one click away, for a phone.

use egui::{Id, Modal, RichText, TextEdit};

use super::i18n::Tr;
use super::qr_ui::qr_ui;
use crate::engine::Connection;
use crate::oss::endpoint::Endpoint;
use crate::oss::limits::InvalidInput;
use crate::oss::presign::{PresignRequest, PresignedUrl, presign_url};
use crate::oss::sign::Credentials;
use crate::units::utc_minute;

/// How long a shared link works, as offered in the dialog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    Hour,
    Day,
    /// The longest OSS allows, and the default.
    #[default]
    Week,
    /// The plain address, for a file anyone may read: it needs no signature, so it does not
    /// expire.
    Never,
}

impl Expiry {
    /// What a signed link may be given.
    pub const SIGNED: [Expiry; 3] = [Expiry::Hour, Expiry::Day, Expiry::Week];

    /// Seconds a signed link works (`Never` is not signed: the longest, should one be made).
    pub fn secs(self) -> u64 {
        match self {
            Expiry::Hour => 3600,
            Expiry::Day => 24 * 3600,
            Expiry::Week | Expiry::Never => crate::oss::presign::MAX_EXPIRES_SECS,
        }
    }

    fn label(self, t: &Tr) -> &'static str {
        match self {
            Expiry::Hour => t.expiry_hour,
            Expiry::Day => t.expiry_day,
            Expiry::Week => t.expiry_week,
            Expiry::Never => t.expiry_never,
        }
    }
}

/// What a link was made with, and the link.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub url: String,
    /// Unix seconds when a presigned link stops working; `None` for a plain address.
    pub expires_at: Option<i64>,
}

/// A presigned GET link to `bucket/key` on `connection`, made at `now` (unix seconds), working
/// for `expiry`; with `download_as`, the browser saves it under that name. With a custom domain
/// (a CNAME bound to the bucket) the link's host is that domain and its path just the key; the
/// signature is the same, as OSS signs `/bucket/key` for either address.
pub fn share_link(
    connection: &Connection,
    custom_domain: Option<&str>,
    credentials: &Credentials,
    object: (&str, &str),
    now: i64,
    expiry: Expiry,
    download_as: Option<&str>,
) -> Result<PresignedUrl, InvalidInput> {
    let (bucket, key) = object;
    let cfg = connection.client_config(credentials.clone())?;
    let mut request = PresignRequest::new("GET", bucket, key);
    if let Some(name) = download_as {
        request = request.download_as(name);
    }
    let endpoint = match custom_domain {
        Some(domain) => crate::oss::endpoint::Endpoint::cname(domain)?,
        None => cfg.endpoint,
    };
    presign_url(
        &endpoint,
        &request,
        credentials,
        cfg.signature,
        &cfg.region,
        now,
        expiry.secs(),
    )
}

/// The object a link is for, where it is, and the key to sign with (`None`: no key, so only
/// the plain address).
#[derive(Clone, Debug, PartialEq)]
pub struct ShareTarget {
    pub connection: Connection,
    /// The connection's own domain (a CNAME bound to the bucket), used as the link's host.
    pub custom_domain: Option<String>,
    pub credentials: Option<Credentials>,
    pub bucket: String,
    pub key: String,
    /// The file's name, for the title and "download as".
    pub name: String,
}

impl ShareTarget {
    /// The object's plain address (it opens only on a public bucket), on the custom domain when
    /// the connection has one.
    pub fn object_url(&self) -> Option<String> {
        if let Some(domain) = &self.custom_domain {
            return Endpoint::cname(domain)
                .ok()
                .map(|e| e.object_url(&self.bucket, &self.key));
        }
        let mut endpoint = Endpoint::parse(&self.connection.endpoint).ok()?;
        if self.connection.path_style {
            endpoint = endpoint.with_path_style();
        }
        Some(endpoint.object_url(&self.bucket, &self.key))
    }

    /// The link for `expiry` made at `now` (unix seconds): presigned (it opens on a private
    /// bucket), or the plain address for `Expiry::Never` or when there is no key to sign with.
    /// Saving under the file's name takes a signature, so `download` always signs.
    pub fn link(&self, now: i64, expiry: Expiry, download: bool) -> Option<Link> {
        let download_as = download.then_some(self.name.as_str());
        let plain = expiry == Expiry::Never && !download;
        let signed = self.credentials.as_ref().filter(|_| !plain).and_then(|c| {
            let object = (self.bucket.as_str(), self.key.as_str());
            let domain = self.custom_domain.as_deref();
            share_link(
                &self.connection,
                domain,
                c,
                object,
                now,
                expiry,
                download_as,
            )
            .ok()
        });
        match signed {
            Some(link) => Some(Link {
                url: link.url,
                expires_at: Some(link.expires_at),
            }),
            None => self.object_url().map(|url| Link {
                url,
                expires_at: None,
            }),
        }
    }
}

/// The open Share dialog.
pub struct ShareDialog {
    pub target: ShareTarget,
    pub expiry: Expiry,
    pub download: bool,
    /// The link for the choices above; the window makes it.
    pub link: Option<Link>,
    /// Whether the plain address opens for anyone; `None` until the window found out.
    pub public: Option<bool>,
    /// The person chose an expiry or download: what they chose is kept when `public` arrives.
    chosen: bool,
    pub show_qr: bool,
}

impl ShareDialog {
    pub fn new(target: ShareTarget) -> Self {
        Self {
            target,
            expiry: Expiry::default(),
            download: false,
            link: None,
            public: None,
            chosen: false,
            show_qr: false,
        }
    }

    /// Learns whether the plain address opens for anyone; a public file starts on it unless
    /// the person already chose something. Returns whether the link must be made again.
    pub fn learn_public(&mut self, public: bool) -> bool {
        self.public = Some(public);
        if public && !self.chosen {
            self.expiry = Expiry::Never;
            return true;
        }
        if !public && self.expiry == Expiry::Never {
            self.expiry = Expiry::default();
            return true;
        }
        false
    }
}

/// What the person did in the Share dialog.
#[derive(Debug, PartialEq)]
pub enum ShareAnswer {
    /// The expiry or the download choice changed: the link must be made again.
    Changed,
    Copy(Link),
    Close,
}

/// The Share dialog: how long, download or open, the link, and Copy.
pub fn share_dialog_ui(ui: &egui::Ui, t: &Tr, d: &mut ShareDialog) -> Option<ShareAnswer> {
    let mut answer = None;
    let modal = Modal::new(Id::unique("share")).show(ui.ctx(), |ui| {
        ui.set_max_width(520.0);
        ui.heading(t.share_title.replace("{name}", &d.target.name));
        ui.add_space(6.0);
        let label = ui
            .horizontal(|ui| {
                let label = ui.label(t.share_valid_for);
                for e in Expiry::SIGNED {
                    if ui.radio_value(&mut d.expiry, e, e.label(t)).changed() {
                        answer = Some(ShareAnswer::Changed);
                    }
                }
                label
            })
            .inner;
        if d.public == Some(true) {
            ui.horizontal(|ui| {
                // Under the other choices, as one of them.
                ui.add_space(label.rect.width() + ui.spacing().item_spacing.x);
                let never = ui
                    .add_enabled_ui(!d.download, |ui| {
                        ui.radio_value(&mut d.expiry, Expiry::Never, Expiry::Never.label(t))
                            .on_hover_text(t.expiry_never_tip)
                            .on_disabled_hover_text(t.expiry_never_download)
                    })
                    .inner;
                if never.changed() {
                    answer = Some(ShareAnswer::Changed);
                }
            });
        }
        if ui
            .checkbox(
                &mut d.download,
                t.share_download.replace("{name}", &d.target.name),
            )
            .changed()
        {
            // The plain address cannot ask for a download: that takes a signed link.
            if d.download && d.expiry == Expiry::Never {
                d.expiry = Expiry::default();
            }
            answer = Some(ShareAnswer::Changed);
        }
        if answer.is_some() {
            d.chosen = true;
        }
        ui.add_space(6.0);
        match &d.link {
            Some(link) => {
                // The code takes the text's place: both would not fit a small window.
                if d.show_qr {
                    ui.vertical_centered(|ui| qr_ui(ui, &link.url, t.qr_too_long));
                } else {
                    let mut shown = link.url.as_str();
                    ui.add(
                        TextEdit::multiline(&mut shown)
                            .desired_width(f32::INFINITY)
                            .desired_rows(3)
                            .font(egui::TextStyle::Monospace),
                    );
                }
                let note = match link.expires_at {
                    Some(at) => t.share_until.replace("{when}", &utc_minute(at)),
                    None if d.public == Some(true) => t.share_public.to_owned(),
                    None => t.share_plain.to_owned(),
                };
                ui.label(RichText::new(note).weak());
            }
            None => {
                ui.colored_label(ui.visuals().error_fg_color, t.share_no_link);
            }
        }
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if let Some(link) = &d.link
                && ui.button(RichText::new(t.copy_link).strong()).clicked()
            {
                answer = Some(ShareAnswer::Copy(link.clone()));
            }
            if d.link.is_some() {
                // A button that stays pressed while the code shows.
                let qr = egui::Button::new(t.qr_code).selected(d.show_qr);
                if ui.add(qr).on_hover_text(t.qr_code_tip).clicked() {
                    d.show_qr = !d.show_qr;
                }
            }
            if ui.button(t.close).clicked() {
                answer = Some(ShareAnswer::Close);
            }
        });
    });
    if modal.should_close() && answer.is_none() {
        answer = Some(ShareAnswer::Close);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::sign::SignatureVersion;

    fn target(custom_domain: Option<&str>) -> ShareTarget {
        ShareTarget {
            connection: Connection {
                endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
                region: None,
                signature: SignatureVersion::V4,
                path_style: false,
            },
            custom_domain: custom_domain.map(str::to_owned),
            credentials: Some(Credentials::new("ak", "sk")),
            bucket: "bucket".into(),
            key: "dir/a b.jpg".into(),
            name: "a b.jpg".into(),
        }
    }

    #[test]
    fn a_public_file_starts_on_its_plain_address_unless_a_choice_was_made() {
        let t = target(None);
        let plain = t.link(1702743657, Expiry::Never, false).unwrap();
        assert_eq!(
            plain,
            Link {
                url: "https://bucket.oss-cn-hangzhou.aliyuncs.com/dir/a%20b.jpg".into(),
                expires_at: None
            }
        );
        // Download takes a signature even for a public file.
        let signed = t.link(1702743657, Expiry::Never, true).unwrap();
        assert!(signed.url.contains("x-oss-signature="), "{}", signed.url);
        assert!(signed.expires_at.is_some());
        let on_domain = target(Some("files.example.com"))
            .link(1702743657, Expiry::Never, false)
            .unwrap();
        assert_eq!(on_domain.url, "https://files.example.com/dir/a%20b.jpg");

        let mut d = ShareDialog::new(target(None));
        assert!(d.learn_public(true));
        assert_eq!(d.expiry, Expiry::Never);
        // A private one keeps (or goes back to) the signed default.
        assert!(d.learn_public(false));
        assert_eq!(d.expiry, Expiry::Week);
        assert!(!d.learn_public(false));
        let mut chosen = ShareDialog::new(target(None));
        chosen.expiry = Expiry::Hour;
        chosen.chosen = true;
        assert!(!chosen.learn_public(true));
        assert_eq!(chosen.expiry, Expiry::Hour);
        assert_eq!(chosen.public, Some(true));
    }

    #[test]
    fn a_custom_domain_is_the_host_and_the_signature_stays() {
        // OSS signs `/bucket/key` whatever the address: the Go SDK v2's V4 signer builds the
        // canonical URI from the request's bucket and key, cname or not, and oss2's V1 resource
        // is `/bucket/key` too. So the links below carry the signatures those SDKs produced for
        // these inputs on the bucket's OSS address (`oss::presign`'s vectors), with the custom
        // domain as host and the key alone as path.
        let key = "dir/a b+中.txt";
        let t = 1702743657;
        let creds = Credentials::new("ak", "sk");
        let conn = |signature| Connection {
            endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
            region: Some("cn-hangzhou".into()),
            signature,
            path_style: true,
        };
        let domain = Some("https://files.example.com/");
        let v4 = share_link(
            &conn(SignatureVersion::V4),
            domain,
            &creds,
            ("bucket", key),
            t,
            Expiry::Hour,
            None,
        )
        .unwrap();
        assert_eq!(
            v4.url,
            "https://files.example.com/dir/a%20b%2B%E4%B8%AD.txt?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20231216T162057Z&x-oss-expires=3600&x-oss-credential=ak%2F20231216%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-signature=f7467511d88884c7f2d4266f9333024475c1f16792413b106b60f726307cbe9b"
        );
        let v1 = share_link(
            &conn(SignatureVersion::V1),
            domain,
            &creds,
            ("bucket", key),
            t,
            Expiry::Hour,
            None,
        )
        .unwrap();
        assert_eq!(
            v1.url,
            "https://files.example.com/dir/a%20b%2B%E4%B8%AD.txt?OSSAccessKeyId=ak&Expires=1702747257&Signature=f3ihXFa8o%2Fj1QbXBT7VUk2ZLYQ8%3D"
        );
        // Without one, the bucket's own address.
        let plain = share_link(
            &conn(SignatureVersion::V4),
            None,
            &creds,
            ("bucket", key),
            t,
            Expiry::Hour,
            None,
        )
        .unwrap();
        assert!(
            plain
                .url
                .starts_with("https://oss-cn-hangzhou.aliyuncs.com/bucket/dir/"),
            "{}",
            plain.url
        );
        assert!(
            share_link(
                &conn(SignatureVersion::V4),
                Some("files.example.com/x"),
                &creds,
                ("bucket", key),
                t,
                Expiry::Hour,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn links_are_presigned_for_seven_days() {
        let conn = Connection {
            endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
            region: None,
            signature: SignatureVersion::V4,
            path_style: false,
        };
        let creds = Credentials::new("ak", "sk").with_security_token("tok");
        let link = share_link(
            &conn,
            None,
            &creds,
            ("bucket", "dir/a b.jpg"),
            1702743657,
            Expiry::default(),
            None,
        )
        .unwrap();
        assert!(
            link.url.starts_with(
                "https://bucket.oss-cn-hangzhou.aliyuncs.com/dir/a%20b.jpg?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20231216T162057Z&x-oss-expires=604800&"
            ),
            "{}",
            link.url
        );
        assert!(
            link.url.contains("&x-oss-security-token=tok&"),
            "{}",
            link.url
        );
        assert_eq!(link.expires_at, 1702743657 + 604_800);

        let hour = share_link(
            &conn,
            None,
            &creds,
            ("bucket", "dir/a b.jpg"),
            1702743657,
            Expiry::Hour,
            Some("a b.jpg"),
        )
        .unwrap();
        assert!(hour.url.contains("&x-oss-expires=3600&"), "{}", hour.url);
        assert!(
            hour.url.contains(
                "response-content-disposition=attachment%3B%20filename%3D%22a%20b.jpg%22"
            ),
            "{}",
            hour.url
        );
    }
}
