//! The folder browser's state: one folder of a bucket at a time, filled page by page as the
//! background lists it (ListObjectsV2 with the delimiter `/`), its breadcrumbs, a new folder's
//! name and why it may not be used, and which object "Show in bucket" asked to see. The window
//! runs the listings and acts on what `folder_browser_ui` (the painter) returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::background::TestOutcome;
use crate::engine::Connection;
use crate::engine::walk::normalise_prefix;
use crate::oss::limits::MAX_KEY_BYTES;
use crate::oss::listing::ListBucketResult;
use crate::oss::sign::Credentials;

pub use super::folder_browser_ui::{BrowserAction, folder_browser_ui};

/// Why the browser is open, which decides what "Choose this folder" does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// From the setup form's Folder field: choosing fills in the field.
    Form,
    /// From the destination on the main window: choosing saves the settings with that folder.
    Destination,
    /// "Show in bucket" on an uploaded row: look only (no New folder, no Choose).
    ShowObject,
}

impl Opened {
    /// Whether the browser may make folders and choose one.
    pub fn picks(self) -> bool {
        self != Opened::ShowObject
    }
}

/// A file in the listed folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub key: String,
    pub size: u64,
    /// ISO 8601, as the listing gave it.
    pub modified: String,
}

/// One page of a folder as the background hands it over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderPage {
    /// Sub-folders: whole prefixes, ending in `/`.
    pub folders: Vec<String>,
    pub files: Vec<FileEntry>,
    /// No page follows.
    pub last: bool,
}

impl FolderPage {
    /// The page of `prefix`'s listing; the folder's own marker (`a/` when listing `a/`) is the
    /// folder itself, not a file in it.
    pub fn from_listing(prefix: &str, page: ListBucketResult, last: bool) -> Self {
        Self {
            folders: page.common_prefixes.into_iter().map(|p| p.prefix).collect(),
            files: page
                .contents
                .into_iter()
                .filter(|o| o.key != prefix)
                .map(|o| FileEntry {
                    key: o.key,
                    size: o.size,
                    modified: o.last_modified,
                })
                .collect(),
            last,
        }
    }
}

/// What the background needs to list (or make a folder in) the browser's bucket. `generation`
/// ties the answers to the request; a listing nobody waits for any more stops early.
#[derive(Clone, Debug)]
pub struct ListRequest {
    pub generation: u64,
    pub bucket: String,
    pub prefix: String,
    pub connection: Connection,
    pub credentials: Credentials,
    current: Arc<AtomicU64>,
}

impl ListRequest {
    /// Whether the browser still waits for this request's answers.
    pub fn wanted(&self) -> bool {
        self.current.load(Ordering::Relaxed) == self.generation
    }
}

/// Where the listing of the folder shown stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loading {
    /// Pages are coming; those that came are shown.
    Listing,
    Listed,
    /// The listing stopped; what came before the failure stays shown.
    Failed(TestOutcome),
}

/// Why a new folder's name cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    /// A `/` (or `\`, which the Folder field reads as one) would make two folders.
    Slash,
    /// `.` and `..` cannot be sent in a URL (see `limits::validate_key`).
    Dots,
    /// The folder's name in the bucket would pass OSS's 1,023 bytes.
    TooLong,
}

/// The marker of folder `name` (trimmed) in the folder `prefix`: `prefix` + `name` + `/`.
pub fn folder_key(prefix: &str, name: &str) -> Result<String, NameProblem> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.contains(['/', '\\']) {
        return Err(NameProblem::Slash);
    }
    if matches!(name, "." | "..") {
        return Err(NameProblem::Dots);
    }
    let key = format!("{prefix}{name}/");
    if key.len() > MAX_KEY_BYTES {
        return Err(NameProblem::TooLong);
    }
    Ok(key)
}

/// "New folder…" while it is open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewFolder {
    pub name: String,
    /// Set when Create was pressed with a name that cannot be used.
    pub problem: Option<NameProblem>,
    /// The server refused to make it, or could not be reached.
    pub failed: Option<TestOutcome>,
    /// Waiting for the server.
    pub making: bool,
    /// The name field was given the focus once.
    pub focused: bool,
}

/// What to do with the name typed in "New folder…".
#[derive(Debug)]
pub enum Make {
    /// The name cannot be used (the browser says why).
    Refused,
    /// The folder is already there: go in.
    Enter(ListRequest),
    /// Make the folder `key`, then go in.
    Make(ListRequest, String),
}

/// The open browser.
pub struct FolderBrowser {
    pub opened: Opened,
    pub bucket: String,
    connection: Connection,
    credentials: Credentials,
    /// The folder shown: `""` for the bucket's top, else ending in `/`.
    pub prefix: String,
    pub folders: Vec<String>,
    pub files: Vec<FileEntry>,
    pub loading: Loading,
    /// The object "Show in bucket" is about.
    pub highlight: Option<String>,
    /// The highlighted object is to be scrolled into view once the listing ends.
    pub(super) scroll_pending: bool,
    pub new_folder: Option<NewFolder>,
    /// The connection's custom domain, for the links of Share….
    pub custom_domain: Option<String>,
    generation: u64,
    current: Arc<AtomicU64>,
}

impl FolderBrowser {
    /// A browser of `bucket` at the folder `prefix` (as typed: it is normalised); nothing is
    /// listed until [`Self::enter`].
    pub fn new(
        opened: Opened,
        bucket: &str,
        prefix: &str,
        connection: Connection,
        credentials: Credentials,
    ) -> Self {
        Self {
            opened,
            bucket: bucket.trim().to_owned(),
            connection,
            credentials,
            prefix: normalise_prefix(prefix),
            folders: Vec::new(),
            files: Vec::new(),
            loading: Loading::Listing,
            highlight: None,
            scroll_pending: false,
            new_folder: None,
            custom_domain: None,
            generation: 0,
            current: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A read-only browser at the folder of `key`, with `key` highlighted.
    pub fn show_object(
        bucket: &str,
        key: &str,
        connection: Connection,
        credentials: Credentials,
    ) -> Self {
        let folder = key.rfind('/').map_or("", |i| &key[..=i]);
        let mut b = Self::new(Opened::ShowObject, bucket, "", connection, credentials);
        b.prefix = folder.to_owned();
        b.highlight = Some(key.to_owned());
        b.scroll_pending = true;
        b
    }

    /// Goes to the folder `prefix` (a listed one, taken as it is) and asks for its listing.
    pub fn enter(&mut self, prefix: &str) -> ListRequest {
        if prefix != self.prefix {
            self.new_folder = None;
        }
        self.prefix = prefix.to_owned();
        self.folders.clear();
        self.files.clear();
        self.loading = Loading::Listing;
        self.generation += 1;
        self.current.store(self.generation, Ordering::Relaxed);
        self.request()
    }

    /// Lists the folder shown again from its first page.
    pub fn retry(&mut self) -> ListRequest {
        let prefix = self.prefix.clone();
        self.enter(&prefix)
    }

    fn request(&self) -> ListRequest {
        ListRequest {
            generation: self.generation,
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            connection: self.connection.clone(),
            credentials: self.credentials.clone(),
            current: self.current.clone(),
        }
    }

    /// Takes a page for request `generation`, unless the browser went elsewhere since.
    pub fn page(&mut self, generation: u64, result: Result<FolderPage, TestOutcome>) {
        if generation != self.generation || self.loading != Loading::Listing {
            return;
        }
        match result {
            Ok(page) => {
                self.folders.extend(page.folders);
                self.files.extend(page.files);
                if page.last {
                    self.loading = Loading::Listed;
                }
            }
            Err(outcome) => self.loading = Loading::Failed(outcome),
        }
    }

    /// Where the highlighted object is among the rows (folders first), once it is listed.
    pub fn highlighted_row(&self) -> Option<usize> {
        let key = self.highlight.as_deref()?;
        let i = self.files.iter().position(|f| f.key == key)?;
        Some(self.folders.len() + i)
    }

    /// The rows shown: the folders, then the files.
    pub fn rows(&self) -> usize {
        self.folders.len() + self.files.len()
    }

    /// Bucket › a › b: each crumb's name and the folder it goes to.
    pub fn crumbs(&self) -> Vec<(String, String)> {
        let mut out = vec![(self.bucket.clone(), String::new())];
        let mut start = 0;
        for (i, _) in self.prefix.match_indices('/') {
            out.push((
                self.prefix[start..i].to_owned(),
                self.prefix[..=i].to_owned(),
            ));
            start = i + 1;
        }
        out
    }

    /// The folder above the one shown; `None` at the bucket's top.
    pub fn parent(&self) -> Option<String> {
        let crumbs = self.crumbs();
        let n = crumbs.len();
        (n >= 2).then(|| crumbs[n - 2].1.clone())
    }

    /// The folder to upload to, as the Folder field takes it.
    pub fn chosen(&self) -> String {
        normalise_prefix(&self.prefix)
    }

    /// Looks at the name typed in "New folder…".
    pub fn make(&mut self) -> Make {
        let Some(nf) = &mut self.new_folder else {
            return Make::Refused;
        };
        nf.failed = None;
        match folder_key(&self.prefix, &nf.name) {
            Err(problem) => {
                nf.problem = Some(problem);
                Make::Refused
            }
            Ok(key) if self.folders.contains(&key) => Make::Enter(self.enter(&key)),
            Ok(key) => {
                nf.problem = None;
                nf.making = true;
                Make::Make(self.request(), key)
            }
        }
    }

    /// The answer to making a folder for request `generation`: on success the browser goes in.
    pub fn made(
        &mut self,
        generation: u64,
        result: Result<String, TestOutcome>,
    ) -> Option<ListRequest> {
        if generation != self.generation {
            return None;
        }
        match result {
            Ok(key) => Some(self.enter(&key)),
            Err(outcome) => {
                if let Some(nf) = &mut self.new_folder {
                    nf.making = false;
                    nf.failed = Some(outcome);
                }
                None
            }
        }
    }

    /// Where and with which key the browser lists: a file's Share link is made the same way.
    pub fn connection(&self) -> (&Connection, &Credentials) {
        (&self.connection, &self.credentials)
    }
}

impl Drop for FolderBrowser {
    /// A listing still paging stops at its next page.
    fn drop(&mut self) {
        self.current.store(0, Ordering::Relaxed);
    }
}

/// The last part of `key` (a folder's ends with `/`, which is kept off), as listed in `prefix`.
pub fn short_name<'k>(prefix: &str, key: &'k str) -> &'k str {
    let rest = key.strip_prefix(prefix).unwrap_or(key);
    rest.strip_suffix('/').unwrap_or(rest)
}

/// `2026-11-26T20:33:26.000Z` → `2026-11-26 20:33`; anything else as it came.
pub fn short_date(iso: &str) -> String {
    match (iso.get(..10), iso.get(10..11), iso.get(11..16)) {
        (Some(day), Some("T"), Some(time)) => format!("{day} {time}"),
        _ => iso.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::listing::{CommonPrefix, ObjectSummary};
    use crate::oss::sign::SignatureVersion;

    fn browser(opened: Opened, prefix: &str) -> FolderBrowser {
        let conn = Connection {
            endpoint: "http://127.0.0.1:1".into(),
            region: None,
            signature: SignatureVersion::V4,
            path_style: true,
        };
        FolderBrowser::new(opened, " b ", prefix, conn, Credentials::new("id", "s"))
    }

    #[test]
    fn folder_names_are_checked_before_anything_is_sent() {
        assert_eq!(folder_key("a/", " New "), Ok("a/New/".into()));
        assert_eq!(folder_key("", "照片 2024"), Ok("照片 2024/".into()));
        assert_eq!(folder_key("a/", "  "), Err(NameProblem::Empty));
        assert_eq!(folder_key("a/", "x/y"), Err(NameProblem::Slash));
        assert_eq!(folder_key("a/", "x\\y"), Err(NameProblem::Slash));
        assert_eq!(folder_key("a/", "."), Err(NameProblem::Dots));
        assert_eq!(folder_key("a/", ".."), Err(NameProblem::Dots));
        assert_eq!(folder_key("a/", "..."), Ok("a/.../".into()));
        let fits = "x".repeat(MAX_KEY_BYTES - 3);
        assert_eq!(folder_key("a/", &fits), Ok(format!("a/{fits}/")));
        let long = "x".repeat(MAX_KEY_BYTES - 2);
        assert_eq!(folder_key("a/", &long), Err(NameProblem::TooLong));
    }

    #[test]
    fn pages_add_up_and_late_ones_are_ignored() {
        let mut b = browser(Opened::Form, "/photos//2024");
        assert_eq!(b.prefix, "photos/2024/");
        assert_eq!(b.bucket, "b");
        let first = b.retry();
        assert!(first.wanted());
        let page = |n: usize, last| FolderPage {
            folders: vec![format!("photos/2024/d{n}/")],
            files: vec![FileEntry {
                key: format!("photos/2024/f{n}"),
                size: 1,
                modified: String::new(),
            }],
            last,
        };
        b.page(first.generation, Ok(page(1, false)));
        assert_eq!((b.rows(), &b.loading), (2, &Loading::Listing));
        let second = b.enter("photos/");
        assert!(!first.wanted() && second.wanted());
        b.page(first.generation, Ok(page(2, true)));
        assert_eq!(b.rows(), 0);
        b.page(second.generation, Ok(page(3, false)));
        b.page(second.generation, Ok(page(4, true)));
        assert_eq!((b.rows(), &b.loading), (4, &Loading::Listed));
        assert_eq!(b.folders, ["photos/2024/d3/", "photos/2024/d4/"]);
        drop(b);
        assert!(!second.wanted());
    }

    #[test]
    fn a_failure_keeps_what_came_and_retry_starts_over() {
        let mut b = browser(Opened::Destination, "");
        let r = b.retry();
        b.page(r.generation, Ok(FolderPage::default()));
        b.page(r.generation, Err(TestOutcome::NoNetwork));
        assert_eq!(b.loading, Loading::Failed(TestOutcome::NoNetwork));
        let again = b.retry();
        assert!(again.generation > r.generation);
        assert_eq!(b.loading, Loading::Listing);
    }

    #[test]
    fn crumbs_lead_back_to_the_top() {
        let mut b = browser(Opened::Form, "");
        assert_eq!(b.crumbs(), [("b".to_owned(), String::new())]);
        assert_eq!(b.parent(), None);
        b.enter("a/b c/");
        let names: Vec<_> = b.crumbs().into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["b", "a", "b c"]);
        assert_eq!(b.crumbs()[1].1, "a/");
        assert_eq!(b.parent().as_deref(), Some("a/"));
        assert_eq!(b.chosen(), "a/b c/");
    }

    #[test]
    fn an_existing_folder_is_entered_and_a_new_one_made() {
        let mut b = browser(Opened::Form, "a");
        let r = b.retry();
        b.page(
            r.generation,
            Ok(FolderPage {
                folders: vec!["a/old/".into()],
                files: vec![],
                last: true,
            }),
        );
        b.new_folder = Some(NewFolder {
            name: "x/y".into(),
            ..Default::default()
        });
        assert!(matches!(b.make(), Make::Refused));
        assert_eq!(
            b.new_folder.as_ref().unwrap().problem,
            Some(NameProblem::Slash)
        );
        b.new_folder.as_mut().unwrap().name = "new".into();
        let Make::Make(req, key) = b.make() else {
            panic!("should make it");
        };
        assert_eq!(key, "a/new/");
        assert!(
            b.made(req.generation, Err(TestOutcome::NoPermission))
                .is_none()
        );
        let nf = b.new_folder.as_ref().unwrap();
        assert_eq!(
            (nf.making, &nf.failed),
            (false, &Some(TestOutcome::NoPermission))
        );
        let next = b.made(req.generation, Ok(key)).unwrap();
        assert_eq!(next.prefix, "a/new/");
        assert_eq!(b.prefix, "a/new/");
        assert!(b.new_folder.is_none());

        b.enter("a/");
        b.new_folder = Some(NewFolder {
            name: "old".into(),
            ..Default::default()
        });
        b.folders.push("a/old/".into());
        assert!(matches!(b.make(), Make::Enter(r) if r.prefix == "a/old/"));
    }

    #[test]
    fn show_in_bucket_opens_the_objects_folder() {
        let b = browser(Opened::Form, "");
        let (conn, creds) = b.connection();
        let mut s = FolderBrowser::show_object("b", "in/x/a.txt", conn.clone(), creds.clone());
        assert_eq!(s.prefix, "in/x/");
        assert!(!s.opened.picks());
        s.folders.push("in/x/sub/".into());
        s.files.push(FileEntry {
            key: "in/x/a.txt".into(),
            size: 3,
            modified: String::new(),
        });
        assert_eq!(s.highlighted_row(), Some(1));
        let top = FolderBrowser::show_object("b", "a.txt", conn.clone(), creds.clone());
        assert_eq!(top.prefix, "");
    }

    #[test]
    fn a_listing_page_becomes_folders_and_files() {
        let page = ListBucketResult {
            contents: vec![
                ObjectSummary {
                    key: "a/".into(),
                    ..Default::default()
                },
                ObjectSummary {
                    key: "a/f.txt".into(),
                    size: 9,
                    last_modified: "2026-11-26T20:33:26.000Z".into(),
                    ..Default::default()
                },
            ],
            common_prefixes: vec![CommonPrefix {
                prefix: "a/sub/".into(),
            }],
            ..Default::default()
        };
        let p = FolderPage::from_listing("a/", page, true);
        assert_eq!(p.folders, ["a/sub/"]);
        assert_eq!(p.files.len(), 1);
        assert_eq!(short_name("a/", &p.folders[0]), "sub");
        assert_eq!(short_name("a/", &p.files[0].key), "f.txt");
        assert_eq!(short_date(&p.files[0].modified), "2026-11-26 20:33");
        assert_eq!(short_date("yesterday"), "yesterday");
    }
}
