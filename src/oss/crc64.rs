//! CRC-64/XZ, which OSS calls "crc64ecma": of a byte stream, and the combination of the CRCs of
//! two adjacent pieces, so the whole object's CRC comes from its parts without re-reading a file.

use crc_fast::{CrcAlgorithm, Digest};

const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// A running CRC-64 over bytes fed in pieces.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Self {
            digest: Digest::new(ALGORITHM),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }

    /// How many bytes were fed.
    pub fn len(&self) -> u64 {
        self.digest.get_amount()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The CRC-64 of a byte slice.
pub fn checksum(bytes: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, bytes)
}

/// The CRC of `A ‖ B` from `crc(A)`, `crc(B)` and `len(B)`.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    crc_fast::checksum_combine(ALGORITHM, crc_a, crc_b, len_b)
}

/// Parses the decimal value of an `x-oss-hash-crc64ecma` header.
pub fn parse_header(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(checksum(b"123456789"), 0x995DC9BBDF1939FA);
        assert_eq!(checksum(b"123456789").to_string(), "11051210869376104954");
        assert_eq!(
            checksum(b"This is a test of the emergency broadcast system."),
            0x27DB187FC15BBC72
        );
        assert_eq!(checksum(b""), 0);
        assert_eq!(
            parse_header(" 11051210869376104954 "),
            Some(0x995DC9BBDF1939FA)
        );
        assert_eq!(parse_header("x"), None);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = Crc64::new();
        for chunk in data.chunks(999) {
            c.update(chunk);
        }
        assert_eq!(c.value(), checksum(&data));
        assert_eq!(c.len(), data.len() as u64);
    }

    #[test]
    fn combine_joins_pieces() {
        let data = b"This is a test of the emergency broadcast system.";
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(checksum(a), checksum(b), b.len() as u64),
                checksum(data),
                "split at {split}"
            );
        }
    }
}
