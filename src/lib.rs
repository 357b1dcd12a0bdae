pub mod engine;
pub mod oss;
