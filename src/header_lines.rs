//! The text that carries headers across the wasm boundary in one crossing (`edge/boundary.js`):
//! one value per line, a lone NUL for an absent one. Header values can hold neither a line
//! break nor a NUL (Fetch standard), so neither can be mistaken for data.

/// What stands for an absent value.
pub const ABSENT: &str = "\u{0}";

/// The values of a read, in the order asked for; `None` for absent ones.
pub fn values(text: &str) -> impl Iterator<Item = Option<&str>> {
    text.split('\n').map(|v| (v != ABSENT).then_some(v))
}

/// `name\nvalue\n…` for `headersFrom`. A pair whose name or value holds a line break or NUL is
/// left out: it would shift every pair after it.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    // Scanned as bytes: both are ASCII, which no multi-byte UTF-8 sequence contains, and a
    // `char` pattern decodes every character (the largest Rust item of a 401 in a profile).
    let breaks = |s: &str| s.bytes().any(|b| b == b'\n' || b == 0);
    let mut out = String::with_capacity(256);
    for (name, value) in pairs {
        if breaks(name) || breaks(value) {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_order_and_mark_the_absent() {
        let got: Vec<_> = values("GET\nhttps://a/v2/\n\u{0}\nBearer x\n\n\u{0}").collect();
        assert_eq!(got, [Some("GET"), Some("https://a/v2/"), None, Some("Bearer x"), Some(""), None]);
    }

    #[test]
    fn encode_pairs_as_lines_and_leaves_out_what_would_shift_them() {
        assert_eq!(encode([]), "");
        assert_eq!(encode([("a", "1")]), "a\n1");
        assert_eq!(encode([("a", "1"), ("b", ""), ("c", "3")]), "a\n1\nb\n\nc\n3");
        assert_eq!(encode([("a", "1\n2"), ("b", "2"), ("c\0", "3"), ("d", "x\0")]), "b\n2");
        assert_eq!(
            encode([("é", "ü\u{2028}✓"), ("x", "a\u{85}")]),
            "é\nü\u{2028}✓\nx\na\u{85}",
            "other breaks are data"
        );
    }
}
