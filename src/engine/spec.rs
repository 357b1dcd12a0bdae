//! What to upload where: the connection (endpoint, region, signature, addressing) and the job
//! spec a face hands the engine. Both are stored in the queue file; the connection also in each
//! checkpoint, so `resume` needs nothing but the credentials.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoint, CheckpointId, ObjectOptions};
use crate::oss::client::ClientConfig;
use crate::oss::endpoint::Endpoint;
use crate::oss::limits::InvalidInput;
use crate::oss::sign::{Credentials, SignatureVersion};

/// Where the object goes and how to talk to it; stored in the checkpoint so `resume` needs
/// nothing but the credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Connection {
    /// As the user typed it; normalised with [`Connection::endpoint_key`] for checkpoint ids.
    pub endpoint: String,
    pub region: Option<String>,
    pub signature: SignatureVersion,
    pub path_style: bool,
}

impl Connection {
    /// The endpoint in one canonical spelling, so `HTTPS://Host/` and `host` share a checkpoint.
    pub fn endpoint_key(&self) -> String {
        match Endpoint::parse(&self.endpoint) {
            Ok(e) => e.base_url(),
            Err(_) => self.endpoint.trim().to_owned(),
        }
    }

    /// The client configuration for these settings and credentials.
    pub fn client_config(&self, credentials: Credentials) -> Result<ClientConfig, InvalidInput> {
        let mut endpoint = Endpoint::parse(&self.endpoint)?;
        if self.path_style {
            endpoint = endpoint.with_path_style();
        }
        ClientConfig::new(
            endpoint,
            self.region.as_deref(),
            credentials,
            self.signature,
        )
    }
}

/// Which of a face's connections a job uploads with: the queue signs the job's requests with
/// that account's credentials. The empty id is the default account: the command line's, and
/// that of every job in a queue file written before there were several.
pub type AccountId = String;

/// What to upload where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Absolute path of the local file.
    pub path: PathBuf,
    pub connection: Connection,
    pub bucket: String,
    pub key: String,
    /// The requested part size, or [`AUTO_PART_SIZE`] (0) to let the engine choose when it
    /// plans the file (`plan::automatic_part_size`). A resumed upload keeps the size it started
    /// with either way.
    ///
    /// [`AUTO_PART_SIZE`]: crate::oss::limits::AUTO_PART_SIZE
    pub part_size: u64,
    /// Parts in flight for this file.
    pub threads: usize,
    pub options: ObjectOptions,
    /// The account whose credentials sign this job's requests, kept in the queue file so a
    /// restart resumes the job with its own key whichever connection is active then.
    #[serde(default)]
    pub account: AccountId,
}

impl JobSpec {
    /// The id of this upload's checkpoint.
    pub fn checkpoint_id(&self) -> CheckpointId {
        CheckpointId::for_upload(
            &self.connection.endpoint_key(),
            &self.bucket,
            &self.key,
            &self.path,
        )
    }

    /// The spec that resumes a checkpoint: its connection, part size and options.
    pub fn from_checkpoint(cp: &Checkpoint, threads: usize) -> Self {
        Self {
            path: cp.local_path.clone(),
            connection: Connection {
                endpoint: cp.endpoint.clone(),
                region: cp.region.clone(),
                signature: cp.signature_version,
                path_style: cp.path_style,
            },
            bucket: cp.bucket.clone(),
            key: cp.key.clone(),
            part_size: cp.part_size,
            threads,
            options: cp.options.clone(),
            account: AccountId::new(),
        }
    }
}

/// The Content-Type for a file, from its name (`.jpg` → `image/jpeg`); `None` when unknown,
/// which OSS stores as `application/octet-stream`.
pub fn guess_content_type(path: &std::path::Path) -> Option<String> {
    mime_guess::from_path(path).first_raw().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_spellings_share_a_checkpoint() {
        let conn = |e: &str| Connection {
            endpoint: e.into(),
            region: None,
            signature: SignatureVersion::V4,
            path_style: false,
        };
        assert_eq!(
            conn("oss-cn-hangzhou.aliyuncs.com").endpoint_key(),
            conn("HTTPS://oss-cn-hangzhou.aliyuncs.com/").endpoint_key()
        );
        assert_ne!(
            conn("http://127.0.0.1:1").endpoint_key(),
            conn("http://127.0.0.1:2").endpoint_key()
        );
    }
}
