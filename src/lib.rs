//! oss-uploader: resumable uploads to Alibaba Cloud OSS. The protocol layer (`oss`), the
//! upload engine (`engine`), the desktop app's pieces (`app`), the command-line face (`cli`), a
//! local OSS-compatible server (`local_server`) for tests, benchmarks and the demo mode, and
//! the support both faces share: secrets (`secrets`), log files (`logging`) and messages in
//! both languages (`text`).

pub mod app;
pub mod atomic_file;
pub mod cli;
pub mod engine;
pub mod local_server;
pub mod logging;
pub mod oss;
pub mod secrets;
pub mod spare_buffers;
pub mod text;
pub mod units;
