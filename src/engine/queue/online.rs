//! Jobs stopped because the network or the service could not be reached come back by
//! themselves: while any is waiting, the engine checks every little while whether the
//! endpoint answers a connection, and puts them back in the queue when it does. A laptop that
//! wakes up somewhere without Wi-Fi, or a link that was down for longer than the retry budget,
//! needs nobody to press Retry.

use std::time::Duration;

use super::Engine;
use crate::engine::api::{JobId, JobState};
use crate::engine::spec::Connection;
use crate::oss::endpoint::Endpoint;

/// The first check comes soon (most outages are blips); the wait then doubles up to the cap.
const FIRST_PROBE: Duration = Duration::from_secs(1);
/// How often an endpoint that stays unreachable is tried again.
const PROBE_AT_MOST_EVERY: Duration = Duration::from_secs(15);
/// How long one try may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Engine {
    /// Remembers a job the network stopped, to bring it back when the endpoint answers.
    pub(super) fn wait_for_network(&mut self, id: JobId) {
        if self.resume_when_online {
            if self.offline.is_empty() {
                self.probe_wait = FIRST_PROBE;
                self.next_probe = Some(tokio::time::Instant::now() + FIRST_PROBE);
            }
            self.offline.insert(id);
        }
    }

    /// Starts one reachability check for the jobs waiting for the network, unless one runs.
    pub(super) fn probe_network(&mut self) {
        self.next_probe = None;
        if self.probing || self.shutting_down {
            return;
        }
        self.offline.retain(|id| {
            self.jobs
                .get(id)
                .is_some_and(|j| j.state == JobState::Interrupted && j.control.is_none())
        });
        let Some(conn) = self
            .offline
            .iter()
            .find_map(|id| self.jobs.get(id))
            .map(|j| j.spec.connection.clone())
        else {
            return;
        };
        self.probing = true;
        let tx = self.probe_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(reachable(&conn).await);
        });
    }

    /// A check ended: when the endpoint answered, the waiting jobs are queued again.
    pub(super) fn network_probed(&mut self, reachable: bool) {
        self.probing = false;
        if !reachable {
            self.probe_wait = (self.probe_wait * 2).min(PROBE_AT_MOST_EVERY);
            if !self.offline.is_empty() {
                self.next_probe = Some(tokio::time::Instant::now() + self.probe_wait);
            }
            return;
        }
        let ids: Vec<JobId> = std::mem::take(&mut self.offline).into_iter().collect();
        if !ids.is_empty() {
            tracing::info!(jobs = ids.len(), "the network is back: resuming");
        }
        for id in ids {
            self.requeue(id);
        }
    }
}

/// Whether a TCP connection to the endpoint can be made: cheap, needs no permission, and is
/// what failed while the network was down.
async fn reachable(conn: &Connection) -> bool {
    let Ok(endpoint) = Endpoint::parse(&conn.endpoint) else {
        return false;
    };
    let address = socket_address(&endpoint);
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(address)).await,
        Ok(Ok(_))
    )
}

/// `host:port`, with the scheme's port when the endpoint names none.
fn socket_address(endpoint: &Endpoint) -> String {
    let host = endpoint.host.as_str();
    let has_port = match host.rfind(']') {
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_owned()
    } else if endpoint.scheme == "http" {
        format!("{host}:80")
    } else {
        format!("{host}:443")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_the_schemes_port() {
        let addr = |e: &str| socket_address(&Endpoint::parse(e).unwrap());
        assert_eq!(
            addr("oss-cn-hangzhou.aliyuncs.com"),
            "oss-cn-hangzhou.aliyuncs.com:443"
        );
        assert_eq!(addr("http://127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(addr("http://example.com"), "example.com:80");
        assert_eq!(addr("https://[::1]"), "[::1]:443");
        assert_eq!(addr("https://[::1]:8443"), "[::1]:8443");
    }
}
