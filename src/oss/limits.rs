//! The limits OSS enforces and the defaults we choose, in one place, with the checks that turn
//! bad input into a message a person can act on before any request is sent.

/// One KiB, MiB and GiB.
pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

/// The smallest part OSS accepts (all but the last part): 100 KiB.
pub const MIN_PART_SIZE: u64 = 100 * KIB;
/// The largest part OSS accepts: 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// The part size used unless the user picks another: 8 MiB, as Alibaba's C++ SDK. It is also
/// the floor of the automatic choice (`engine::plan::automatic_part_size`): never smaller parts
/// than OSS users expect unless a person asks for them.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// A job's part size of 0 means "automatic": the engine chooses when it plans the file. Never a
/// valid size (the smallest is [`MIN_PART_SIZE`]), so it cannot be mistaken for a choice.
pub const AUTO_PART_SIZE: u64 = 0;
/// The automatic part size aims for parts that take about this long on one request, so that a
/// fast link is not paying a round trip and a signature every few milliseconds.
pub const AUTO_PART_SECONDS: f64 = 4.0;
/// …but never so big that a file has fewer parts than this: one big file must still be able to
/// fill the pool of requests in flight (`engine::pool::MAX_IN_FLIGHT`).
pub const AUTO_MIN_PARTS: u64 = 64;
/// …and, whatever the link, a file has at most about this many parts: every part is a line of
/// the checkpoint (rewritten as parts finish) and of the Complete request.
pub const AUTO_MAX_PARTS: u64 = 2_000;
/// Part numbers run from 1 to this.
pub const MAX_PARTS: u32 = 10_000;
/// The longest object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1023;
/// The largest object a single PutObject may carry: 5 GiB.
pub const MAX_PUT_OBJECT_SIZE: u64 = 5 * GIB;
/// The traffic limit OSS accepts, in bit/s (`x-oss-traffic-limit`).
pub const MIN_TRAFFIC_LIMIT: u64 = 245_760;
pub const MAX_TRAFFIC_LIMIT: u64 = 838_860_800;
/// How far the client clock may be from the server's before OSS refuses a request.
pub const MAX_CLOCK_SKEW_MS: i64 = 900_000;

/// Why a name or a number was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error(
        "The bucket name \"{0}\" is not valid: use 3 to 63 characters, only lowercase letters, digits and '-', not starting or ending with '-'."
    )]
    BucketName(String),
    #[error("The object name is empty. Give the file a name in the bucket.")]
    EmptyKey,
    #[error("The object name is {0} bytes long; OSS allows at most 1023 bytes.")]
    KeyTooLong(usize),
    #[error("The object name \"{0}\" starts with '/' or '\\'; OSS does not allow that.")]
    KeyLeadingSlash(String),
    #[error(
        "The object name \"{0}\" has a \".\" or \"..\" between slashes. A web address cannot carry that unchanged (it would name another object), so OSS cannot be asked for it. Rename the file or folder, or choose another name in the bucket."
    )]
    KeyDotSegment(String),
    #[error("The part size {0} is outside what OSS allows: from 100 KiB to 5 GiB.")]
    PartSize(u64),
    #[error("Part number {0} is outside what OSS allows: from 1 to 10000.")]
    PartNumber(u32),
    #[error(
        "The bandwidth limit {0} bit/s is outside what OSS allows per request: 245760 to 838860800 bit/s."
    )]
    TrafficLimit(u64),
    #[error(
        "The endpoint \"{0}\" is not a valid address. Use a form like oss-cn-hangzhou.aliyuncs.com or https://example.com."
    )]
    Endpoint(String),
    #[error(
        "The region for endpoint \"{0}\" cannot be worked out from its name. Set the region (for example cn-hangzhou)."
    )]
    RegionNeeded(String),
    #[error("{0}")]
    Other(String),
}

/// Checks a bucket name: 3–63 characters of `a-z0-9-`, not starting or ending with `-`.
pub fn validate_bucket(name: &str) -> Result<(), InvalidInput> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::BucketName(name.to_owned()))
    }
}

/// Checks an object key: 1–1023 bytes, not starting with `/` or `\`, and with no `.` or `..`
/// segment between slashes.
///
/// OSS itself stores `a/../b`, but a URL cannot carry it: the URL parser every HTTP client
/// uses (WHATWG, in reqwest) resolves dot segments, and treats `%2e` as `.`, so the request
/// would be signed for one path and sent for another (then refused as a wrong secret), or
/// name another object. Encoding cannot help; refusing up front says what is wrong.
pub fn validate_key(key: &str) -> Result<(), InvalidInput> {
    if key.is_empty() {
        return Err(InvalidInput::EmptyKey);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(InvalidInput::KeyTooLong(key.len()));
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return Err(InvalidInput::KeyLeadingSlash(key.to_owned()));
    }
    if key.split('/').any(|segment| matches!(segment, "." | "..")) {
        return Err(InvalidInput::KeyDotSegment(key.to_owned()));
    }
    Ok(())
}

/// Checks a part size against 100 KiB–5 GiB.
pub fn validate_part_size(size: u64) -> Result<(), InvalidInput> {
    if (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(InvalidInput::PartSize(size))
    }
}

/// Checks a part number against 1–10000.
pub fn validate_part_number(n: u32) -> Result<(), InvalidInput> {
    if (1..=MAX_PARTS).contains(&n) {
        Ok(())
    } else {
        Err(InvalidInput::PartNumber(n))
    }
}

/// Checks a per-request traffic limit in bit/s.
pub fn validate_traffic_limit(bits_per_second: u64) -> Result<(), InvalidInput> {
    if (MIN_TRAFFIC_LIMIT..=MAX_TRAFFIC_LIMIT).contains(&bits_per_second) {
        Ok(())
    } else {
        Err(InvalidInput::TrafficLimit(bits_per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket-1", &"a".repeat(63)] {
            assert_eq!(validate_bucket(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "ABC",
            "a_b",
            "a.b",
            &"a".repeat(64),
            "",
        ] {
            assert!(validate_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(validate_key("a/b c+中文.txt"), Ok(()));
        assert_eq!(validate_key(""), Err(InvalidInput::EmptyKey));
        assert!(matches!(
            validate_key("/a"),
            Err(InvalidInput::KeyLeadingSlash(_))
        ));
        assert!(matches!(
            validate_key("\\a"),
            Err(InvalidInput::KeyLeadingSlash(_))
        ));
        assert_eq!(validate_key(&"é".repeat(511)), Ok(())); // 1022 bytes
        for dots in ["a/../b", "./x", "x/.", "..", ".", "a/./b", "a/..", "../a"] {
            assert_eq!(
                validate_key(dots),
                Err(InvalidInput::KeyDotSegment(dots.to_owned())),
                "{dots}"
            );
        }
        // Dots that are not a whole segment are ordinary characters.
        for ok in [
            "...",
            "a/.../b",
            ".hidden/x",
            "x/.y",
            "a..b",
            "a/b.",
            "%2e%2e/x",
            "a\\..\\b",
        ] {
            assert_eq!(validate_key(ok), Ok(()), "{ok}");
        }
        let msg = validate_key("a/../b").unwrap_err().to_string();
        assert!(
            msg.contains("\"a/../b\"") && msg.contains("\"..\""),
            "{msg}"
        );
        assert_eq!(
            validate_key(&"é".repeat(512)),
            Err(InvalidInput::KeyTooLong(1024))
        );
    }

    #[test]
    fn part_sizes_and_numbers() {
        assert!(validate_part_size(MIN_PART_SIZE).is_ok());
        assert!(validate_part_size(MAX_PART_SIZE).is_ok());
        assert!(validate_part_size(MIN_PART_SIZE - 1).is_err());
        assert!(validate_part_size(MAX_PART_SIZE + 1).is_err());
        assert!(validate_part_number(1).is_ok() && validate_part_number(10_000).is_ok());
        assert!(validate_part_number(0).is_err() && validate_part_number(10_001).is_err());
        assert!(validate_traffic_limit(245_760).is_ok());
        assert!(validate_traffic_limit(245_759).is_err());
        let msg = validate_part_size(1).unwrap_err().to_string();
        assert!(msg.contains("100 KiB") && msg.contains("5 GiB"), "{msg}");
    }
}
