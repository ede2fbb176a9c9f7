//! Repository patterns for upstream allow-lists and license entitlements.
//!
//! ```text
//! pattern := segment ("/" segment)*        matched against a repository path such as acme/app
//! "*"  matches any run of characters within one path segment
//! "**" as a whole segment matches zero or more whole segments
//! ```
//! So `acme/*` matches `acme/app` but not `acme/team/app`, and `acme/**` matches both.

/// Whether `pattern` matches the whole of `repo`.
pub fn matches(pattern: &str, repo: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = repo.split('/').collect();
    // reach[j]: the pattern prefix consumed so far matches segs[..j]. O(patterns × segments),
    // so no pattern can make matching exponential.
    let mut reach = vec![false; segs.len() + 1];
    reach[0] = true;
    for p in &pat {
        let mut next = vec![false; segs.len() + 1];
        if *p == "**" {
            let mut any = false;
            for j in 0..=segs.len() {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 0..segs.len() {
                next[j + 1] = reach[j] && match_segment(p.as_bytes(), segs[j].as_bytes());
            }
        }
        reach = next;
    }
    reach[segs.len()]
}

/// Glob within one segment; `*` is the only wildcard. Iterative with one backtrack point.
fn match_segment(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Checks a pattern's shape: non-empty segments of name characters, `*` and `**`.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.len() > 255 {
        return Err(format!("pattern {pattern:?} must be 1 to 255 characters"));
    }
    for seg in pattern.split('/') {
        let ok = !seg.is_empty()
            && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-*".contains(&b));
        if !ok || (seg.contains("**") && seg != "**") {
            return Err(format!(
                "pattern {pattern:?}: each segment is lowercase letters, digits, '.', '_', '-' and '*', or exactly '**' (e.g. my-org/* or my-org/**)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        for (pattern, repo, want) in [
            ("acme/*", "acme/app", true),
            ("acme/*", "acme/team/app", false),
            ("acme/**", "acme/team/app", true),
            ("acme/**", "acme", true),
            ("acme/**", "acmex/app", false),
            ("**", "anything/goes/here", true),
            ("acme/app", "acme/app", true),
            ("acme/app", "acme/app2", false),
            ("acme/app-*", "acme/app-web", true),
            ("acme/*-web", "acme/app-web", true),
            ("acme/*-web", "acme/app-api", false),
            ("*/app", "library/app", true),
            ("acme/**/db", "acme/a/b/db", true),
            ("acme/**/db", "acme/db", true),
            ("acme/**/db", "acme/a/b/dbx", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(matches(pattern, repo), want, "{pattern} vs {repo}");
        }
    }

    #[test]
    fn validation_table() {
        for good in ["acme/*", "acme/**", "**", "acme/app", "a-b_c.d/*x*"] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in ["", "acme/", "/acme", "acme//x", "Acme/*", "acme/***", "acme/a**", "ac me", "acme/%2F"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let repo = format!("{}/{}", "a".repeat(100), "a/".repeat(60) + "b");
        let pattern = "**/**/**/**/**/**/c";
        assert!(!matches(pattern, &repo));
        assert!(!matches(&"*a".repeat(50), &format!("{}b", "a".repeat(120))));
        assert!(matches(&"*a".repeat(50), &"a".repeat(120)));
    }
}
