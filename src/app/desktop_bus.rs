//! The desktop around the window, reached over D-Bus on Linux: systemd-logind's sleep
//! inhibitor while uploads run, and a notification when a batch ends; and the words of that
//! notification. The calls run on one thread of their own, so the frame never waits for a bus.
//! Where there is no bus (a server, a container, `cargo test`), a call fails, is logged once per
//! kind, and the window goes on without it. Other platforms get neither yet (see docs/APP.md).

use super::i18n::Tr;
use super::model::BatchEnd;

/// What the bus thread is asked to do.
#[derive(Debug)]
enum Request {
    /// Take the inhibitor with this reason, or (`None`) release it.
    KeepAwake(Option<String>),
    Notify {
        summary: String,
        body: String,
    },
}

/// Asks the system not to sleep (`Some(reason)`) or lets it sleep again (`None`).
pub fn keep_awake(reason: Option<&str>) {
    send(Request::KeepAwake(reason.map(str::to_owned)));
}

/// Shows a desktop notification.
pub fn notify(summary: &str, body: &str) {
    send(Request::Notify {
        summary: summary.to_owned(),
        body: body.to_owned(),
    });
}

/// The notification for a batch that ended: `None` when the user stopped some of it (nothing
/// to tell them). `target` is `bucket/prefix`.
pub fn batch_message(t: &Tr, end: &BatchEnd, target: &str) -> Option<(String, String)> {
    if end.failed > 0 {
        let (name, error) = end.first_failure.as_ref()?;
        let summary = t
            .notify_failed
            .replace("{n}", &end.failed.to_string())
            .replace("{reason}", error.message_in(t.lang()));
        let body = t
            .notify_failed_body
            .replace("{uploaded}", &end.uploaded.to_string())
            .replace("{files}", &end.files.to_string())
            .replace("{name}", name);
        return Some((summary, body));
    }
    // Stopped by the user (paused, cancelled): they are at the window already.
    if end.uploaded + end.skipped == 0 || end.stopped > 0 {
        return None;
    }
    let summary = match (&end.single_name, end.skipped) {
        (Some(name), 0) => t.notify_one_uploaded.replace("{name}", name),
        (_, 0) => t
            .notify_all_uploaded
            .replace("{n}", &end.uploaded.to_string()),
        (_, skipped) => t
            .notify_all_done
            .replace("{n}", &(end.uploaded + skipped).to_string())
            .replace("{uploaded}", &end.uploaded.to_string())
            .replace("{skipped}", &skipped.to_string()),
    };
    // "Verified" only when every upload was checked.
    let body = if end.unverified > 0 {
        t.notify_unverified_body
            .replace("{target}", target)
            .replace("{n}", &end.unverified.to_string())
    } else {
        t.notify_done_body.replace("{target}", target)
    };
    Some((summary, body))
}

#[cfg(target_os = "linux")]
fn send(request: Request) {
    use std::sync::OnceLock;
    use std::sync::mpsc::Sender;
    static BUS: OnceLock<Option<Sender<Request>>> = OnceLock::new();
    let bus = BUS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        match std::thread::Builder::new()
            .name("desktop-bus".into())
            .spawn(move || linux::serve(rx))
        {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!("no desktop bus thread: {e}");
                None
            }
        }
    });
    if let Some(tx) = bus {
        let _ = tx.send(request);
    }
}

#[cfg(not(target_os = "linux"))]
fn send(request: Request) {
    tracing::debug!("no desktop integration on this platform yet: {request:?}");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::sync::mpsc::Receiver;

    use zbus::zvariant::{OwnedFd, Value};

    use super::Request;

    /// Runs the requests one after another until the window goes away.
    pub(super) fn serve(requests: Receiver<Request>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!("no runtime for the desktop bus: {e}");
                return;
            }
        };
        // The inhibitor holds while this descriptor is open; dropping it lets the system sleep.
        let mut held: Option<OwnedFd> = None;
        let (mut inhibit_warned, mut notify_warned) = (false, false);
        for request in requests {
            match request {
                Request::KeepAwake(Some(reason)) if held.is_none() => {
                    match rt.block_on(inhibit(&reason)) {
                        Ok(fd) => {
                            tracing::info!("keeping the computer awake while uploading");
                            held = Some(fd);
                        }
                        Err(e) if !inhibit_warned => {
                            inhibit_warned = true;
                            tracing::warn!("cannot keep the computer awake (logind): {e}");
                        }
                        Err(e) => tracing::debug!("logind inhibitor: {e}"),
                    }
                }
                Request::KeepAwake(Some(_)) => {}
                Request::KeepAwake(None) => {
                    if held.take().is_some() {
                        tracing::info!("the computer may sleep again");
                    }
                }
                Request::Notify { summary, body } => {
                    if let Err(e) = rt.block_on(notify(&summary, &body)) {
                        if notify_warned {
                            tracing::debug!("notification: {e}");
                        } else {
                            notify_warned = true;
                            tracing::warn!("cannot show desktop notifications: {e}");
                        }
                    }
                }
            }
        }
    }

    async fn inhibit(reason: &str) -> zbus::Result<OwnedFd> {
        let bus = zbus::Connection::system().await?;
        let reply = bus
            .call_method(
                Some("org.freedesktop.login1"),
                "/org/freedesktop/login1",
                Some("org.freedesktop.login1.Manager"),
                "Inhibit",
                &("sleep:idle", "OSS Uploader", reason, "block"),
            )
            .await?;
        reply.body().deserialize::<OwnedFd>()
    }

    async fn notify(summary: &str, body: &str) -> zbus::Result<()> {
        let bus = zbus::Connection::session().await?;
        let hints: HashMap<&str, Value<'_>> = HashMap::new();
        bus.call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "Notify",
            &(
                "OSS Uploader",
                0u32,
                "oss-uploader",
                summary,
                body,
                Vec::<&str>::new(),
                hints,
                -1i32,
            ),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::i18n::{Lang, tr};

    #[test]
    fn a_batch_speaks_of_what_happened() {
        let t = tr(Lang::En);
        let all = BatchEnd {
            files: 304,
            uploaded: 304,
            ..BatchEnd::default()
        };
        assert_eq!(
            batch_message(t, &all, "b/in/").unwrap(),
            ("All 304 uploaded".into(), "Verified in oss://b/in/".into())
        );
        let one = BatchEnd {
            files: 1,
            uploaded: 1,
            single_name: Some("a.txt".into()),
            ..BatchEnd::default()
        };
        assert_eq!(batch_message(t, &one, "b/").unwrap().0, "a.txt uploaded");
        let stopped = BatchEnd {
            files: 2,
            stopped: 2,
            ..BatchEnd::default()
        };
        assert_eq!(batch_message(t, &stopped, "b/"), None);
        let unchecked = BatchEnd {
            files: 3,
            uploaded: 3,
            unverified: 1,
            ..BatchEnd::default()
        };
        assert_eq!(
            batch_message(t, &unchecked, "b/").unwrap().1,
            "In oss://b/; 1 of them could not be verified"
        );
    }
}
