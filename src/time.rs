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
    let whole = s.get(..19)?;
    let rest = &s[19..];
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

/// Parses a duration such as `90d`, `12h`, `30m`, `45s` or `2w` into seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
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
    fn parses_durations() {
        for (s, want) in [
            ("45s", Some(45)),
            ("30m", Some(1800)),
            ("12h", Some(43_200)),
            ("90d", Some(7_776_000)),
            ("2w", Some(1_209_600)),
            ("1y", Some(31_536_000)),
            ("0d", None),
            ("-1d", None),
            ("d", None),
            ("10x", None),
            ("", None),
        ] {
            assert_eq!(parse_duration(s), want, "{s}");
        }
    }
}
