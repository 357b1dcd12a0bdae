//! Server uploads nobody recorded, found and aborted: they hold parts the user pays for.
//!
//! An intent is saved before InitiateMultipartUpload (see `checkpoint::intent`). When Initiate
//! had to be sent more than once (an answer lost on the way), or a run finds an intent an
//! earlier run left (it was killed while Initiate was in flight, or the first checkpoint could
//! not be written), the uploads of that key that OSS lists as initiated since the intent, other
//! than the one the checkpoint names, are aborted.
//!
//! Uploads of the same key started by another program in the same minutes would be aborted too;
//! two programs writing one object at once would overwrite each other anyway.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{JobEnv, abort_quietly};
use crate::engine::checkpoint::{
    CheckpointError, CheckpointId, CheckpointStore, Intent, holder_description,
};
use crate::engine::spec::Connection;
use crate::oss::client::Client;
use crate::oss::error::Error;
use crate::oss::sign::Credentials;

/// How much earlier than the intent (by our clock) an upload may be stamped (by the server's)
/// and still count as ours: clocks differ, and OSS refuses requests more than 15 minutes off.
const CLOCK_MARGIN: Duration = Duration::from_secs(15 * 60);

/// Aborts the uploads of `intent`'s key initiated since it, except `keep`. Returns how many.
pub(super) async fn reap(
    env: &JobEnv,
    intent: &Intent,
    keep: Option<&str>,
) -> Result<usize, Error> {
    reap_with(&env.client, intent, keep).await
}

async fn reap_with(client: &Client, intent: &Intent, keep: Option<&str>) -> Result<usize, Error> {
    let since = intent.started_unix_ms - CLOCK_MARGIN.as_millis() as i64;
    let listed = client
        .list_multipart_uploads(&intent.bucket, &intent.key)
        .await?;
    let mut aborted = 0;
    for upload in listed {
        if upload.key != intent.key || Some(upload.upload_id.as_str()) == keep {
            continue;
        }
        // An upload whose start cannot be read is not judged ours.
        let Some(initiated) = initiated_ms(&upload.initiated) else {
            continue;
        };
        if initiated >= since {
            tracing::info!(
                bucket = %intent.bucket,
                key = %intent.key,
                upload_id = %upload.upload_id,
                "aborting an upload whose start was never recorded"
            );
            abort_quietly(client, &intent.bucket, &intent.key, &upload.upload_id).await;
            aborted += 1;
        }
    }
    Ok(aborted)
}

/// Reaps what the intent left for record `id`, if there is one. The intent is kept: the killed
/// run's Initiate may still be on its way and land later, so it is removed only by the last
/// look, just before this file's upload is completed ([`reap_before_complete`]).
pub(super) async fn reap_left_intent(env: &JobEnv, id: &CheckpointId, keep: Option<&str>) {
    let Some(intent) = env.store.load_intent(id) else {
        return;
    };
    if let Err(e) = reap(env, &intent, keep).await {
        tracing::warn!(key = %intent.key, "could not look for unrecorded uploads: {e}");
    }
}

/// Just before Complete, while the record still names `keep`: aborts whatever the intent's
/// runs left meanwhile, and removes the intent once that worked. Done before Complete, so a
/// kill here leaves the record, and the next run continues rather than starting over.
pub(super) async fn reap_before_complete(env: &JobEnv, id: &CheckpointId, keep: &str) {
    let Some(intent) = env.store.load_intent(id) else {
        return;
    };
    match reap(env, &intent, Some(keep)).await {
        Ok(_) => {
            let _ = env.store.delete_intent(id);
        }
        Err(e) => tracing::warn!(key = %intent.key, "could not look for unrecorded uploads: {e}"),
    }
}

/// What became of one intent found by [`reap_intents`].
#[derive(Debug)]
pub struct ReapedIntent {
    pub id: CheckpointId,
    pub intent: Intent,
    /// How many unrecorded uploads were aborted, or why they could not be looked for.
    pub aborted: Result<usize, String>,
}

/// Looks, for every intent left in `store`, for the uploads it may have left on the server and
/// aborts them (keeping the one a record names); an intent is removed once that is done. For
/// the command line's `resume`, which has no job for an upload that was never recorded.
pub async fn reap_intents(store: &CheckpointStore, credentials: &Credentials) -> Vec<ReapedIntent> {
    let mut out = Vec::new();
    for id in store.intents() {
        let Some(intent) = store.load_intent(&id) else {
            continue;
        };
        let Ok(_lock) = store.lock(&id, &holder_description("oss-uploader resume")) else {
            // Its run is going on elsewhere and will see to it.
            continue;
        };
        let keep = store.load(&id).ok().map(|cp| cp.upload_id);
        let aborted = match client_for(&intent.connection, credentials) {
            Ok(client) => reap_with(&client, &intent, keep.as_deref())
                .await
                .map_err(|e| e.user_message()),
            Err(e) => Err(e),
        };
        if aborted.is_ok() {
            let _ = store.delete_intent(&id);
        }
        out.push(ReapedIntent {
            id,
            intent,
            aborted,
        });
    }
    out
}

/// What became of a damaged record given to [`discard_damaged`].
#[derive(Debug, PartialEq, Eq)]
pub enum DamagedRecord {
    /// Its server upload was aborted (or was already gone) and the record removed.
    Discarded { upload_id: String },
    /// Nothing in it names a server upload; the record was removed.
    NothingToAbort,
    /// Its server upload could not be aborted: the record is kept so a later try can.
    Kept { why: String },
}

/// Discards a record that cannot be loaded (damaged, or of a format too old), aborting the
/// server upload it still names, so no parts are left that nobody can find.
pub async fn discard_damaged(
    store: &CheckpointStore,
    id: &CheckpointId,
    credentials: &Credentials,
) -> Result<DamagedRecord, CheckpointError> {
    let _lock = store.lock(id, &holder_description("oss-uploader resume"))?;
    let outcome = match store.salvage(id) {
        None => DamagedRecord::NothingToAbort,
        Some(s) => match (s.connection, s.bucket, s.key) {
            (Some(connection), Some(bucket), Some(key)) => {
                match client_for(&connection, credentials) {
                    Ok(client) if abort_quietly(&client, &bucket, &key, &s.upload_id).await => {
                        DamagedRecord::Discarded {
                            upload_id: s.upload_id,
                        }
                    }
                    Ok(_) => DamagedRecord::Kept {
                        why: "the service did not accept the cancellation".into(),
                    },
                    Err(why) => DamagedRecord::Kept { why },
                }
            }
            _ => DamagedRecord::Kept {
                why: "the record no longer says where its upload is".into(),
            },
        },
    };
    if !matches!(outcome, DamagedRecord::Kept { .. }) {
        store.delete(id)?;
    }
    Ok(outcome)
}

fn client_for(connection: &Connection, credentials: &Credentials) -> Result<Client, String> {
    let config = connection
        .client_config(credentials.clone())
        .map_err(|e| e.to_string())?;
    Client::new(config).map_err(|e| e.user_message())
}

fn initiated_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oss_times_are_read() {
        assert_eq!(
            initiated_ms("2012-02-23T04:18:23.000Z"),
            Some(1_329_970_703_000)
        );
        assert_eq!(initiated_ms("yesterday"), None);
    }
}
