//! The OSS protocol layer: signing, one async function per API call, XML types, errors and their
//! wording, CRC-64 and the limits OSS enforces. Stateless: resume state belongs to the engine.
//!
//! A call is built as plain data (`request`), signed and sent by the `client`, its body streamed
//! by `stream` (which also watches for stalls), its answer read by `response`; `types` holds
//! what callers pass and receive, and `client` re-exports it. `digest` is the MD5 side of
//! checking a body, for servers that give no CRC-64; `listing` holds the listing calls' XML,
//! `presign` the share links.

mod chunks;
pub mod client;
pub mod crc64;
pub mod digest;
pub mod endpoint;
pub mod error;
pub mod limits;
pub mod listing;
pub mod presign;
pub mod regions;
mod request;
mod response;
pub mod sign;
mod stream;
mod types;
mod wording;
pub mod xml;
