pub mod cli;
pub mod local_server;
pub mod oss;
