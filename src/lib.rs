pub mod oss;
