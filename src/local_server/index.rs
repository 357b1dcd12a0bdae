//! The sorted key index that makes listing fast: one ordered map of key → summary per bucket,
//! built from the object files the first time a bucket is listed and kept current by every
//! commit and delete, so a page of ListObjects costs a lookup and the page, not a scan of
//! 100,000 metadata files. The files stay the truth; the index is memory only.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use super::store::ObjectMeta;

/// What a listing shows of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    pub size: u64,
    pub etag: String,
    pub last_modified: i64,
    pub object_type: String,
}

impl From<&ObjectMeta> for Listed {
    fn from(m: &ObjectMeta) -> Self {
        Self {
            size: m.size,
            etag: m.etag.clone(),
            last_modified: m.last_modified,
            object_type: m.object_type.clone(),
        }
    }
}

pub(crate) type Keys = BTreeMap<String, Listed>;

/// The loaded buckets' indexes. Changes are applied after the file they mirror changed, and a
/// bucket is loaded while holding the lock, so a change racing the load is applied on top of
/// it and none is lost.
#[derive(Default)]
pub(crate) struct Index {
    buckets: Mutex<HashMap<String, Keys>>,
}

impl Index {
    /// Runs `f` on the bucket's index, loading it with `load` first when needed.
    pub fn with<T>(
        &self,
        bucket: &str,
        load: impl FnOnce() -> std::io::Result<Keys>,
        f: impl FnOnce(&Keys) -> T,
    ) -> std::io::Result<T> {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(bucket) {
            let keys = load()?;
            map.insert(bucket.to_owned(), keys);
        }
        Ok(f(&map[bucket]))
    }

    /// Records an object written; nothing when the bucket was never listed.
    pub fn put(&self, bucket: &str, meta: &ObjectMeta) {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = map.get_mut(bucket) {
            keys.insert(meta.key.clone(), Listed::from(meta));
        }
    }

    pub fn remove(&self, bucket: &str, key: &str) {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = map.get_mut(bucket) {
            keys.remove(key);
        }
    }
}

/// One page of a listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub objects: Vec<(String, Listed)>,
    pub prefixes: Vec<String>,
    /// More keys or prefixes follow.
    pub truncated: bool,
    /// The last key or prefix on the page: where the next page starts after.
    pub last: Option<String>,
}

/// The "folder" `key` falls in when listing `prefix` with `delimiter`: the key up to and
/// including the first delimiter after the prefix.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: &str) -> Option<&'k str> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

/// The keys under `prefix` after `after`, at most `max` entries (objects and common prefixes
/// together), objects in a common prefix folded into it. When `after` is itself a common prefix
/// (a previous page ended on it), what is under it was already given.
pub(crate) fn page(keys: &Keys, prefix: &str, delimiter: &str, after: &str, max: usize) -> Page {
    let mut out = Page::default();
    let mut skip: Option<String> = common_prefix(after, prefix, delimiter)
        .filter(|cp| *cp == after)
        .map(str::to_owned);
    // Where to continue from; `after` sorts before every key under it, so a common prefix is
    // passed over by starting again just past its last possible key.
    let mut from: Bound<String> = match &skip {
        Some(cp) => Bound::Excluded(format!("{cp}{}", char::MAX)),
        None if after >= prefix => Bound::Excluded(after.to_owned()),
        None => Bound::Included(prefix.to_owned()),
    };
    let mut count = 0;
    'pages: loop {
        let bound = match &from {
            Bound::Included(s) => Bound::Included(s.as_str()),
            Bound::Excluded(s) => Bound::Excluded(s.as_str()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut restart = None;
        for (key, listed) in keys.range::<str, _>((bound, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break 'pages;
            }
            if skip.as_deref().is_some_and(|s| key.starts_with(s)) {
                continue;
            }
            if count == max {
                out.truncated = true;
                break 'pages;
            }
            count += 1;
            match common_prefix(key, prefix, delimiter) {
                Some(cp) => {
                    out.prefixes.push(cp.to_owned());
                    out.last = Some(cp.to_owned());
                    restart = Some(cp.to_owned());
                    break;
                }
                None => {
                    out.objects.push((key.clone(), listed.clone()));
                    out.last = Some(key.clone());
                }
            }
        }
        match restart {
            Some(cp) => {
                from = Bound::Excluded(format!("{cp}{}", char::MAX));
                skip = Some(cp);
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Keys {
        names
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    Listed {
                        size: k.len() as u64,
                        etag: String::new(),
                        last_modified: 0,
                        object_type: "Normal".into(),
                    },
                )
            })
            .collect()
    }

    fn names(p: &Page) -> (Vec<&str>, Vec<&str>) {
        (
            p.objects.iter().map(|(k, _)| k.as_str()).collect(),
            p.prefixes.iter().map(String::as_str).collect(),
        )
    }

    #[test]
    fn pages_fold_folders_and_resume_after_them() {
        let k = keys(&[
            "a.txt", "b/", "b/1", "b/2", "b/c/3", "c", "d/x", "d/y", "e", "z/",
        ]);
        let all = page(&k, "", "/", "", 100);
        assert_eq!(
            names(&all),
            (vec!["a.txt", "c", "e"], vec!["b/", "d/", "z/"])
        );
        assert!(!all.truncated);

        // Two at a time, each page continuing after the last entry of the one before.
        let mut after = String::new();
        let mut seen = Vec::new();
        loop {
            let p = page(&k, "", "/", &after, 2);
            let (o, f) = names(&p);
            seen.extend(o.iter().chain(f.iter()).map(|s| s.to_string()));
            if !p.truncated {
                break;
            }
            after = p.last.unwrap();
        }
        seen.sort();
        assert_eq!(seen, ["a.txt", "b/", "c", "d/", "e", "z/"]);

        let inside = page(&k, "b/", "/", "", 100);
        assert_eq!(names(&inside), (vec!["b/", "b/1", "b/2"], vec!["b/c/"]));
        let flat = page(&k, "b/", "", "", 100);
        assert_eq!(flat.objects.len(), 4);
        let limited = page(&k, "b/", "", "", 4);
        assert!(!limited.truncated, "exactly four keys fit");
        let past = page(&k, "b/", "", "b/2", 100);
        assert_eq!(names(&past), (vec!["b/c/3"], vec![]));
        assert_eq!(page(&k, "q", "/", "", 10), Page::default());
        let zero = page(&k, "", "", "", 0);
        assert!(zero.truncated && zero.objects.is_empty());
    }

    #[test]
    fn a_key_after_the_largest_character_is_still_folded() {
        let odd = format!("f/{}x", char::MAX);
        let k = keys(&["f/a", &odd, "g"]);
        let first = page(&k, "", "/", "", 1);
        assert_eq!(first.prefixes, ["f/"]);
        let rest = page(&k, "", "/", "f/", 10);
        assert_eq!(names(&rest), (vec!["g"], vec![]));
    }
}
