//! Dates, RFC 3339 timestamps and durations from licenses, upstream token answers and the CLI.
//! A parsed date formats back to text that parses to the same instant; formatting never fails
//! on any `i64` (the first eight input bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::time::{
    format_date, format_rfc3339, parse_date, parse_duration, parse_rfc3339_seconds, try_parse_duration,
};

fuzz_target!(|data: &[u8]| {
    if let Some(first) = data.first_chunk::<8>() {
        let unix = i64::from_le_bytes(*first);
        let _ = (format_date(unix), format_rfc3339(unix));
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(unix) = parse_date(text) {
        assert_eq!(parse_date(&format_rfc3339(unix)), Some(unix), "{text:?}");
        if !text.contains('T') {
            assert_eq!(format_date(unix), text);
        }
    }
    if let Some(unix) = parse_rfc3339_seconds(text) {
        assert_eq!(parse_rfc3339_seconds(&format_rfc3339(unix)), Some(unix), "{text:?}");
    }
    let duration = try_parse_duration(text);
    assert_eq!(parse_duration(text), duration.as_ref().ok().copied());
    match duration {
        Ok(seconds) => assert!(seconds > 0),
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
});
