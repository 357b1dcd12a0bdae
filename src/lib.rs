//! oss-uploader: resumable uploads to Alibaba Cloud OSS, as a library used by the desktop app,
//! the CLI and the tests.

pub mod cli;
pub mod local_server;
pub mod oss;
