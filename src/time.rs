//! Calendar arithmetic on unix seconds: the few date formats licenses and tokens need, no clock.
//!
//! Days-from-civil and civil-from-days follow Howard Hinnant's algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>), valid for the proleptic Gregorian
//! calendar; callers pass the current time in, so nothing here reads a clock.

/// Days since 1970-01-01 for a (year, month, day).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2026-10-01`
pub fn format_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-10-01T12:00:00Z` (RFC 3339, UTC, whole seconds).
pub fn format_rfc3339(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}Z", format_date(unix), secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Parses `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SSZ` into unix seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parse_digits(parts.next()?, 4)?;
    let month: u32 = parse_digits(parts.next()?, 2)? as u32;
    let day: u32 = parse_digits(parts.next()?, 2)? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    if let Some(t) = time {
        let mut hms = t.splitn(3, ':');
        let h = parse_digits(hms.next()?, 2)?;
        let m = parse_digits(hms.next()?, 2)?;
        let sec = parse_digits(hms.next()?, 2)?;
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        secs += h * 3600 + m * 60 + sec;
    }
    Some(secs)
}

/// Whole seconds of an RFC 3339 UTC timestamp, ignoring a fractional part
/// (`2026-11-23T04:10:00.123456Z`); `None` for other offsets.
pub fn parse_rfc3339_seconds(s: &str) -> Option<i64> {
    let (whole, rest) = s.split_at_checked(19)?;
    let rest = rest.strip_prefix('.').map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit())).unwrap_or(rest);
    if rest != "Z" && rest != "+00:00" {
        return None;
    }
    parse_date(&format!("{whole}Z"))
}

fn parse_digits(s: &str, len: usize) -> Option<i64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Why a duration was refused. `Display` is the message a CLI user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not `<digits><unit>`, e.g. empty, signed, spaced or missing the number.
    Malformed,
    /// The number is zero.
    Zero,
    /// A bare `m`, which reads as minutes to some and months to others.
    AmbiguousMinutesOrMonths,
    /// A unit other than `s`, `min`, `h`, `d`, `w` or `y` (escaped for display).
    UnknownUnit(String),
    /// More seconds than fit in an `i64`.
    TooLarge,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("a duration is a whole number and a unit: 45s, 30min, 12h, 90d, 2w or 1y"),
            Self::Zero => f.write_str("a duration must be longer than zero"),
            Self::AmbiguousMinutesOrMonths => {
                f.write_str("unit \"m\" is ambiguous (minutes or months?): use \"min\" for minutes or \"d\" for days")
            }
            Self::UnknownUnit(unit) => write!(f, "unknown duration unit \"{unit}\": use s, min, h, d, w or y"),
            Self::TooLarge => f.write_str("duration is too large"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration such as `90d`, `12h`, `30min`, `45s`, `2w` or `1y` into seconds; see
/// [`try_parse_duration`] for why one is refused.
pub fn parse_duration(s: &str) -> Option<i64> {
    try_parse_duration(s).ok()
}

/// Parses `<digits><unit>` with unit `s`, `min`, `h`, `d`, `w` or `y` (a year is 365 days)
/// into seconds. A bare `m` is refused as ambiguous, and a number whose seconds overflow
/// is refused rather than wrapped.
///
/// ```
/// use pullgate::time::{try_parse_duration, DurationError};
/// assert_eq!(try_parse_duration("30min"), Ok(1800));
/// assert_eq!(try_parse_duration("30m"), Err(DurationError::AmbiguousMinutesOrMonths));
/// ```
pub fn try_parse_duration(s: &str) -> Result<i64, DurationError> {
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(unit_at);
    if digits.is_empty() {
        return Err(DurationError::Malformed);
    }
    let seconds_per_unit = match unit {
        "s" => 1,
        "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        "m" => return Err(DurationError::AmbiguousMinutesOrMonths),
        "" => return Err(DurationError::Malformed),
        other => return Err(DurationError::UnknownUnit(crate::reference::echo(other))),
    };
    // Only ASCII digits are left, so the one way `parse` fails is overflow.
    let n: i64 = digits.parse().map_err(|_| DurationError::TooLarge)?;
    if n == 0 {
        return Err(DurationError::Zero);
    }
    n.checked_mul(seconds_per_unit).ok_or(DurationError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        for (unix, date, full) in [
            (0, "1970-01-01", "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29", "2000-02-29T00:00:00Z"),
            (1_790_812_800, "2026-10-01", "2026-10-01T00:00:00Z"),
            (1_795_400_000, "2026-11-23", "2026-11-23T02:13:20Z"),
            (-1, "1969-12-31", "1969-12-31T23:59:59Z"),
        ] {
            assert_eq!(format_date(unix), date, "{unix}");
            assert_eq!(format_rfc3339(unix), full, "{unix}");
        }
    }

    #[test]
    fn parses_good_dates() {
        for (s, want) in [
            ("1970-01-01", 0),
            ("2026-10-01", 1_790_812_800),
            ("2000-02-29", 951_782_400),
            ("2026-11-23T02:13:20Z", 1_795_400_000),
        ] {
            assert_eq!(parse_date(s), Some(want), "{s}");
        }
    }

    #[test]
    fn rejects_bad_dates() {
        for s in [
            "",
            "2026-13-01",
            "2026-02-29",
            "2026-1-01",
            "26-01-01",
            "2026-01-01T25:00:00Z",
            "2026-01-01T10:00:00",
            "2026/01/01",
            "tomorrow",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn round_trips_every_day_for_centuries() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parses_rfc3339_with_fractions() {
        for (s, want) in [
            ("2026-11-23T02:13:20Z", Some(1_795_400_000)),
            ("2026-11-23T02:13:20.123456789Z", Some(1_795_400_000)),
            ("2026-11-23T02:13:20+00:00", Some(1_795_400_000)),
            ("2026-11-23T02:13:20+01:00", None),
            ("2026-11-23", None),
        ] {
            assert_eq!(parse_rfc3339_seconds(s), want, "{s}");
        }
    }

    #[test]
    fn parses_good_durations() {
        for (s, want) in [
            ("45s", 45),
            ("30min", 1800),
            ("12h", 43_200),
            ("90d", 7_776_000),
            ("2w", 1_209_600),
            ("1y", 31_536_000),
            ("007d", 604_800),
            ("9223372036854775807s", i64::MAX),
            ("106751991167300d", 106_751_991_167_300 * 86_400),
        ] {
            assert_eq!(try_parse_duration(s), Ok(want), "{s}");
            assert_eq!(parse_duration(s), Some(want), "{s}");
        }
    }

    #[test]
    fn refuses_bad_durations() {
        let unknown = |u: &str| DurationError::UnknownUnit(u.to_string());
        for (s, want) in [
            ("", DurationError::Malformed),
            ("d", DurationError::Malformed),
            ("min", DurationError::Malformed),
            ("90", DurationError::Malformed),
            ("-1d", DurationError::Malformed),
            ("+1d", DurationError::Malformed),
            (" 1d", DurationError::Malformed),
            ("0d", DurationError::Zero),
            ("000s", DurationError::Zero),
            ("30m", DurationError::AmbiguousMinutesOrMonths),
            ("1M", unknown("M")),
            ("10x", unknown("x")),
            ("1 d", unknown(" d")),
            ("1.5h", unknown(".5h")),
            ("1mins", unknown("mins")),
            ("1dd", unknown("dd")),
            ("1\u{e9}", unknown("\\u{e9}")),
            ("9223372036854775808s", DurationError::TooLarge),
            ("99999999999999999999999d", DurationError::TooLarge),
            ("106751991167301d", DurationError::TooLarge),
            ("9223372036854775807min", DurationError::TooLarge),
        ] {
            assert_eq!(try_parse_duration(s), Err(want), "{s}");
            assert_eq!(parse_duration(s), None, "{s}");
        }
    }

    #[test]
    fn duration_errors_explain_the_fix() {
        assert_eq!(
            DurationError::AmbiguousMinutesOrMonths.to_string(),
            r#"unit "m" is ambiguous (minutes or months?): use "min" for minutes or "d" for days"#
        );
        assert_eq!(
            unknown_unit_message("1fortnight"),
            r#"unknown duration unit "fortnight": use s, min, h, d, w or y"#
        );
    }

    fn unknown_unit_message(s: &str) -> String {
        try_parse_duration(s).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn refuses_rfc3339_cut_inside_a_character() {
        for s in ["2026-11-23T02:13:2\u{e9}Z", "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"] {
            assert_eq!(parse_rfc3339_seconds(s), None, "{s}");
        }
    }
}
