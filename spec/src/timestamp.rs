//! Docker's two timestamp syntaxes, in one place:
//! - [`parse`]: `timetypes.GetTimestamp`, what `until` filters (container, image, network
//!   prune; image list) and the CLI's `--since`/`--until` accept: a Go duration before now
//!   (`24h`), Unix seconds, or an RFC 3339 date or time;
//! - [`parse_unix`]: `timetypes.ParseTimestamps`, the `secs.nanos` form the CLI sends for
//!   events and logs.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimestampError(pub String);

/// Unix nanoseconds as a date-time (`None` when out of chrono's range).
pub fn to_datetime(nanos: i128) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    chrono::DateTime::from_timestamp(secs, sub)
}

/// `timetypes.GetTimestamp` as the daemon uses it for `until`: a Go duration before `now`
/// (`24h`, `1h30m`), Unix seconds (`1700000000`, `1700000000.5`), or an RFC 3339 date or
/// time (a missing zone is UTC, the daemon's zone here). Returns Unix nanoseconds.
pub fn parse(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<i128, TimestampError> {
    let bad = || {
        TimestampError(format!(
            "failed to parse value as time or duration: {value:?}"
        ))
    };
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok(nanos(now) - d);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(nanos(t.with_timezone(&chrono::Utc)));
    }
    if let Some((_, time)) = value.split_once('T') {
        // Go accepts `2006-01-02T15` and `2006-01-02T15:04`; chrono wants the seconds.
        let padded = match time.matches(':').count() {
            0 => format!("{value}:00:00"),
            1 => format!("{value}:00"),
            _ => value.to_string(),
        };
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&padded, "%Y-%m-%dT%H:%M:%S%.f") {
            return Ok(nanos(t.and_utc()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| nanos(t.and_utc()))
            .ok_or_else(bad);
    }
    if value.contains('-') {
        return Err(bad());
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i128 = secs.parse().map_err(|_| bad())?;
    let frac_nanos: i128 = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(secs * 1_000_000_000 + frac_nanos)
}

pub fn nanos(t: chrono::DateTime<chrono::Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

/// Go's `time.ParseDuration`, in nanoseconds (`None` when it is not one).
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * scale;
    }
    let n = total as i128;
    Some(if neg { -n } else { n })
}

/// Parses `since` / `until`: Unix seconds with up to 9 (tolerated: 20) fractional digits, as
/// the CLI sends them (`1700000000.123456789`). `None` for an empty value.
pub fn parse_unix(value: &str) -> Result<Option<i64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| format!("invalid timestamp {value:?}: invalid seconds {secs:?}"))?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        if frac.len() > 20 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid timestamp {value:?}: invalid nanoseconds"));
        }
        let digits: String = frac.chars().take(9).collect();
        format!("{digits:0<9}")
            .parse()
            .map_err(|_| format!("invalid timestamp {value:?}: invalid nanoseconds"))?
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos))
        .map(Some)
        .ok_or_else(|| format!("invalid timestamp {value:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn get_timestamp_forms() {
        let now = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let s = |v: &str| parse(v, now).map(|n| n / 1_000_000_000);
        assert_eq!(s("24h"), Ok(1_700_000_000 - 86_400));
        assert_eq!(s("1h30m"), Ok(1_700_000_000 - 5_400));
        assert_eq!(s("1600000000"), Ok(1_600_000_000));
        assert_eq!(parse("1600000000.5", now), Ok(1_600_000_000_500_000_000));
        assert_eq!(s("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(s("2023-11-14"), Ok(1_699_920_000));
        assert!(parse("yesterday", now).is_err());
        assert!(parse("2023-13-01", now).is_err());
        assert_eq!(
            to_datetime(1_700_000_000_000_000_001).unwrap(),
            chrono::Utc.timestamp_opt(1_700_000_000, 1).unwrap()
        );
    }

    #[test]
    fn parse_timestamps_forms() {
        assert_eq!(parse_unix(""), Ok(None));
        assert_eq!(parse_unix("10"), Ok(Some(10_000_000_000)));
        assert_eq!(parse_unix("10.5"), Ok(Some(10_500_000_000)));
        assert!(parse_unix("abc").is_err());
    }
}
