//! Byte sizes as people type them and read them, for every face: parsing `8MiB`, `100KB`,
//! `1.5 GiB`, `65536` (flags, settings fields) and formatting `8 MiB`, `1.5 GiB` (bars, the
//! queue table, messages), and moments as a minute in UTC (link expiries, listings).
//!
//! Units: `KiB`, `MiB`, `GiB`, `TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` are powers of
//! 1000, as on disk labels and in the SI; the single letters `K`, `M`, `G`, `T` are powers of 1024,
//! as in curl and wget. Letters may be in any case, a trailing `B` or `/s` is optional, and a space
//! may separate the number from the unit. Fractions are allowed and rounded down to whole bytes.

use std::fmt;

/// Why a size could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeError(String);

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SizeError {}

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1_000),
    ("m", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1_000_000),
    ("g", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1_000_000_000),
    ("t", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1_000_000_000_000),
];

/// Parses a size in bytes (see the module documentation for the units).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let bad = || {
        SizeError(format!(
            "\"{text}\" is not a size; write a number with an optional unit, like 8MiB, 500KB or 1048576"
        ))
    };
    let s = text.trim();
    let s = s.strip_suffix("/s").unwrap_or(s).trim_end();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, m)| *m)
        .ok_or_else(bad)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let too_big = || SizeError(format!("\"{text}\" is too large"));
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(too_big)?;
    if !fraction.is_empty() {
        // Exact decimal arithmetic: 1.1 GiB must not depend on floating-point rounding.
        let digits = &fraction[..fraction.len().min(12)];
        let numerator: u128 = digits.parse().map_err(|_| bad())?;
        let denominator = 10u128.pow(digits.len() as u32);
        let extra = numerator * u128::from(multiplier) / denominator;
        bytes = u64::try_from(extra)
            .ok()
            .and_then(|e| bytes.checked_add(e))
            .ok_or_else(too_big)?;
    }
    Ok(bytes)
}

/// Why a duration could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration as people type it: `500ms`, `2s`, `1.5s`, `15m`, `1h`, `7d`; a plain
/// number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, DurationError> {
    let bad = || {
        DurationError(format!(
            "\"{text}\" is not a duration (examples: 500ms, 2s, 1.5s, 15m, 1h, 7d)"
        ))
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// `8 MiB`, `1.5 GiB`: sizes as people read them (powers of 1024, one decimal at most).
pub fn human_bytes(n: u64) -> String {
    const NAMES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < NAMES.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", NAMES[unit])
    } else {
        format!("{v:.1} {}", NAMES[unit])
    }
}

/// A unix time to the minute, in UTC (what a link's expiry and a listing's dates show):
/// `2026-11-27 14:10 UTC`.
pub fn utc_minute(unix: i64) -> String {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15 min"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "m", "-1s", "1x", "1e9s", "soon"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8 MiB");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GiB");
    }

    #[test]
    fn units() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("8 mib"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("8M"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("100KB"), Ok(100_000));
        assert_eq!(parse_size("100KiB"), Ok(102_400));
        assert_eq!(parse_size("100k"), Ok(102_400));
        assert_eq!(parse_size("5GiB"), Ok(5 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size(" 10MiB/s "), Ok(10 << 20));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn fractions_are_exact_and_round_down() {
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("0.5KiB"), Ok(512));
        assert_eq!(parse_size("1.1KB"), Ok(1_100));
        assert_eq!(parse_size("0.3B"), Ok(0));
        assert_eq!(parse_size("2.0"), Ok(2));
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        for s in [
            "", "MiB", "-1", "1.2.3", ".5M", "8 MiBs", "8XB", "eight", "1e6", "8 Mi B",
        ] {
            let e = parse_size(s).unwrap_err();
            assert!(e.to_string().contains("is not a size"), "{s}: {e}");
        }
        assert!(
            parse_size("99999999999TiB")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
        assert!(parse_size("18446744073709551616").is_err());
    }
}
