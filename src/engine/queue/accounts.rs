//! Credentials per account: each job names the account whose key signs its requests, the
//! queue keeps one set of credentials and one client per (account, connection), and a job whose
//! account has no key yet fails with a message that says so, then goes on by itself when the
//! key comes (`Command::SetAccountCredentials`).

use super::Engine;
use crate::engine::api::{JobId, JobState};
use crate::engine::outcome::JobError;
use crate::engine::retry::Backoff;
use crate::engine::spec::{AccountId, Connection};
use crate::engine::upload::JobEnv;
use crate::oss::client::Client;
use crate::oss::sign::Credentials;
use crate::text::Text;

impl Engine {
    /// New credentials for `account`: its clients are made again with them, and its jobs that
    /// stopped for want of a key are queued again.
    pub(super) fn set_credentials(&mut self, account: AccountId, credentials: Option<Credentials>) {
        self.clients.retain(|(a, _), _| *a != account);
        let Some(c) = credentials else {
            self.credentials.remove(&account);
            return;
        };
        self.credentials.insert(account.clone(), c);
        let jobs = &self.jobs;
        self.no_key.retain(|id| jobs.contains_key(id));
        let waiting: Vec<JobId> = self
            .no_key
            .iter()
            .copied()
            .filter(|id| self.jobs.get(id).is_some_and(|j| j.spec.account == account))
            .collect();
        for id in waiting {
            self.no_key.remove(&id);
            if self
                .jobs
                .get(&id)
                .is_some_and(|j| j.state == JobState::Failed)
            {
                self.requeue(id);
            }
        }
    }

    // Called once per job start: a large error type costs nothing worth boxing for.
    #[allow(clippy::result_large_err)]
    pub(super) fn client_for(
        &mut self,
        account: &AccountId,
        conn: &Connection,
    ) -> Result<Client, JobError> {
        let slot = (account.clone(), conn.clone());
        if let Some(c) = self.clients.get(&slot) {
            return Ok(c.clone());
        }
        let creds = self.credentials.get(account).cloned().ok_or_else(|| {
            JobError::plain(if account.is_empty() {
                Text::new(
                    "No AccessKey is set. Enter an AccessKey ID and secret in the settings (or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET).",
                    "尚未设置 AccessKey。请在设置中填写 AccessKey ID 和 Secret（或设置环境变量 OSS_ACCESS_KEY_ID 和 OSS_ACCESS_KEY_SECRET）。",
                )
            } else {
                Text::new(
                    "This upload's connection has no AccessKey secret in this session. Choose that connection in the settings and enter its secret: the upload then goes on by itself.",
                    "此上传所用的连接在本次运行中没有 AccessKey Secret。请在设置中选择该连接并填写其 Secret，上传随后会自动继续。",
                )
            })
        })?;
        let cfg = conn.client_config(creds).map_err(JobError::invalid)?;
        let client = Client::new(cfg).map_err(|e| JobError::from_oss(&e))?;
        self.clients.insert(slot, client.clone());
        Ok(client)
    }

    /// What a job of this connection needs to run.
    // Called once per job start: a large error type costs nothing worth boxing for.
    #[allow(clippy::result_large_err)]
    pub(super) fn make_env(
        &mut self,
        account: &AccountId,
        conn: &Connection,
    ) -> Result<JobEnv, JobError> {
        let client = self.client_for(account, conn)?;
        let store = self.store.clone().ok_or_else(|| {
            JobError::plain(Text::new(
                "The folder for resume records cannot be used; see the message above.",
                "无法使用存放续传记录的文件夹，详见上方的消息。",
            ))
        })?;
        Ok(JobEnv {
            client,
            store,
            throttle: self.throttle.clone(),
            pool: self.pool.clone(),
            backoff: Backoff {
                max_elapsed: self.settings.retry_for,
                ..Backoff::default()
            },
        })
    }
}
