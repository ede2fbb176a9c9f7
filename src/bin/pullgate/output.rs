//! How results reach the user: aligned tables and short sentences for people, one JSON document
//! on stdout for scripts (`--json`). Notes meant for people go to stderr in both modes.

use serde::Serialize;

use crate::failure::{Failure, Outcome};

#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints the command's result: `json` in `--json` mode, else `human()`'s text.
    pub fn result<T: Serialize>(&self, json: &T, human: impl FnOnce() -> String) -> Outcome<()> {
        if self.json {
            let text = serde_json::to_string_pretty(json)
                .map_err(|e| Failure::failed(format!("cannot encode the JSON output: {e}")))?;
            println!("{text}");
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end_matches('\n'));
            }
        }
        Ok(())
    }

    /// A note for people (stderr), shown in both modes so stdout stays machine-readable.
    pub fn note(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }
}

/// Left-aligned columns separated by two spaces; the header is upper-case.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            line.push_str(&cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_string()
    };
    let mut out = render(headers.iter().map(|h| h.to_ascii_uppercase()).collect());
    for row in rows {
        out.push('\n');
        out.push_str(&render(row.clone()));
    }
    out
}

/// `2026-10-01T12:00:00Z`
pub fn timestamp(unix: i64) -> String {
    pullgate::time::format_rfc3339(unix)
}

/// `in 3 days`, `2 hours ago`: a human sense of distance next to absolute dates.
pub fn relative(unix: i64, now: i64) -> String {
    let delta = unix - now;
    let abs = delta.unsigned_abs();
    let amount = match abs {
        0..=119 => format!("{abs} s"),
        120..=7199 => format!("{} min", abs / 60),
        7200..=172_799 => format!("{} h", abs / 3600),
        _ => format!("{} days", abs / 86_400),
    };
    if delta >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(&["slug", "name"], &[vec!["acme".into(), "Acme Inc".into()], vec!["b".into(), "".into()]]);
        assert_eq!(t, "SLUG  NAME\nacme  Acme Inc\nb");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(100, 0), "in 100 s");
        assert_eq!(relative(0, 3 * 86_400), "3 days ago");
        assert_eq!(relative(7200, 0), "in 2 h");
    }
}
