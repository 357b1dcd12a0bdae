//! The OSS protocol layer: signing, one async function per API call, XML types, errors,
//! CRC-64 and the limits OSS enforces. Stateless: resume state belongs to the engine.

pub mod client;
pub mod crc64;
pub mod endpoint;
pub mod error;
pub mod limits;
pub mod regions;
pub mod sign;
pub mod xml;
