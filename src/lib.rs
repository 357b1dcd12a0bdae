//! oss-uploader: resumable uploads to Alibaba Cloud OSS. The protocol layer (`oss`), the
//! upload engine (`engine`), the command-line face (`cli`) and a local OSS-compatible server
//! (`local_server`) for tests, benchmarks and the demo mode.

pub mod app;
pub mod bridge;
pub mod cli;
pub mod engine;
pub mod local_server;
pub mod oss;
pub mod secrets;
