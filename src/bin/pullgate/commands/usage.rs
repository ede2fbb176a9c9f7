//! `pullgate usage` (pulls, distinct client networks and bytes per customer, image, version or
//! day, from the daily aggregates) and `pullgate usage versions` (for each customer, the newest
//! version of each image it pulled, and when: who is still on 1.2, who moved to 1.4).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use pullgate::events::Param;

use super::logs::required_app;
use super::Ctx;
use crate::cli::{UsageAction, UsageArgs, UsageBy};
use crate::events_db::{self, Row};
use crate::failure::Outcome;
use crate::output::{table, timestamp};
use crate::validate;

pub fn run(ctx: &Ctx, args: UsageArgs) -> Outcome<()> {
    match args.action {
        Some(UsageAction::Versions { app, image }) => versions(ctx, &required_app(app.as_deref())?, image.as_deref()),
        None => usage(ctx, &required_app(args.app.as_deref())?, args.by, &args.since),
    }
}

/// The aggregate columns a grouping keeps (fixed names, never input).
fn group_columns(by: UsageBy) -> &'static [&'static str] {
    match by {
        UsageBy::Customer => &["customer"],
        UsageBy::Image => &["image"],
        UsageBy::Version => &["image", "version"],
        UsageBy::Day => &["day"],
    }
}

/// Pulls, bytes and distinct client networks per group since `since_day` (`YYYY-MM-DD`).
pub fn usage_sql<'a>(app: &'a str, by: UsageBy, since_day: &'a str) -> (String, Vec<Param<'a>>) {
    let columns = group_columns(by);
    let selected: Vec<String> = columns.iter().map(|c| format!("u.{c} AS {c}")).collect();
    let grouped: Vec<String> = columns.iter().map(|c| format!("u.{c}")).collect();
    let same: String = columns.iter().map(|c| format!(" AND c.{c} = u.{c}")).collect();
    let sql = format!(
        "SELECT {}, SUM(u.pulls) AS pulls, SUM(u.bytes) AS bytes, \
         (SELECT COUNT(DISTINCT c.client) FROM daily_clients c WHERE c.app = ?1 AND c.day >= ?2{same}) AS clients \
         FROM daily_usage u WHERE u.app = ?1 AND u.day >= ?2 GROUP BY {} ORDER BY pulls DESC, {}",
        selected.join(", "),
        grouped.join(", "),
        grouped.join(", ")
    );
    (sql, vec![Param::Text(app), Param::Text(since_day)])
}

fn usage(ctx: &Ctx, app: &str, by: UsageBy, since: &str) -> Outcome<()> {
    let since_at = validate::since(since, ctx.now)?;
    let since_day = timestamp(since_at).chars().take(10).collect::<String>();
    let db = events_db::open(ctx.backend_options())?;
    let (sql, params) = usage_sql(app, by, &since_day);
    let rows = db.query(&sql, &params)?;
    let json = serde_json::json!({ "app": app, "since": since_day, "by": by.as_str(), "rows": rows });
    ctx.out.result(&json, || {
        let columns = group_columns(by);
        let lines: Vec<Vec<String>> = rows
            .iter()
            .map(|r| columns.iter().chain(&["pulls", "clients", "bytes"]).map(|c| cell(r, c)).collect())
            .collect();
        let headers: Vec<&str> = columns.iter().copied().chain(["pulls", "clients", "bytes"]).collect();
        if lines.is_empty() {
            format!("no pulls of app {app} since {since_day}")
        } else {
            table(&headers, &lines)
        }
    })
}

fn cell(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(serde_json::Value::String(s)) if s.is_empty() && column == "version" => "(by digest)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Every (customer, image, version) pulled by tag, with its pulls and last pull.
pub fn versions_sql<'a>(app: &'a str, image: Option<&'a str>) -> (String, Vec<Param<'a>>) {
    let mut sql = "SELECT customer, image, version, SUM(pulls) AS pulls, MAX(last_at) AS last_at FROM daily_usage \
                   WHERE app = ?1 AND version != '' AND pulls > 0"
        .to_string();
    let mut params = vec![Param::Text(app)];
    if let Some(image) = image {
        params.push(Param::Text(image));
        sql.push_str(" AND image = ?2");
    }
    sql.push_str(" GROUP BY customer, image, version");
    (sql, params)
}

/// Orders tags as versions: an optional `v`, then digit runs compared as numbers and other
/// runs as text; a pre-release (`1.4-rc1`) comes before its release (`1.4`). Tags that do not
/// start with a digit (`latest`) sort below every version.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn chunks(tag: &str) -> (bool, Vec<&str>) {
        let t = tag.strip_prefix(['v', 'V']).filter(|t| t.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(tag);
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in t.char_indices().skip(1) {
            let prev = t[..i].chars().next_back().is_some_and(|p| p.is_ascii_digit());
            if prev != c.is_ascii_digit() {
                out.push(&t[start..i]);
                start = i;
            }
        }
        if !t.is_empty() {
            out.push(&t[start..]);
        }
        (t.starts_with(|c: char| c.is_ascii_digit()), out)
    }
    let numeric = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
    let ((a_version, a), (b_version, b)) = (chunks(a), chunks(b));
    if a_version != b_version {
        return a_version.cmp(&b_version);
    }
    for (x, y) in a.iter().zip(&b) {
        let order = if numeric(x) && numeric(y) {
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            x.cmp(y)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    let pre_release = |rest: Option<&&str>| rest.is_some_and(|r| r.starts_with(['-', '~']));
    match a.len().cmp(&b.len()) {
        Ordering::Greater if pre_release(a.get(b.len())) => Ordering::Less,
        Ordering::Less if pre_release(b.get(a.len())) => Ordering::Greater,
        other => other,
    }
}

/// One customer's use of one image.
#[derive(Debug, serde::Serialize, PartialEq, Eq)]
pub struct Adoption {
    pub customer: String,
    pub image: String,
    /// The newest version it pulled, and when it last did.
    pub newest: String,
    pub newest_pulled_at: String,
    /// Every version it pulled: version, pulls, last pull, newest first.
    pub versions: Vec<(String, i64, String)>,
}

/// A version pulled: version, pulls, last pull (unix seconds).
type Pulled = (String, i64, i64);

/// Groups the `versions_sql` rows per customer and image.
pub fn adoption(rows: &[Row]) -> Vec<Adoption> {
    let text = |r: &Row, c: &str| r.get(c).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let int = |r: &Row, c: &str| r.get(c).and_then(serde_json::Value::as_i64).unwrap_or_default();
    let mut groups: BTreeMap<(String, String), Vec<Pulled>> = BTreeMap::new();
    for r in rows {
        groups.entry((text(r, "customer"), text(r, "image"))).or_default().push((
            text(r, "version"),
            int(r, "pulls"),
            int(r, "last_at"),
        ));
    }
    groups
        .into_iter()
        .filter_map(|((customer, image), mut list)| {
            list.sort_by(|a, b| compare_versions(&b.0, &a.0));
            let (newest, _, at) = list.first()?.clone();
            Some(Adoption {
                customer,
                image,
                newest,
                newest_pulled_at: timestamp(at),
                versions: list.into_iter().map(|(v, p, at)| (v, p, timestamp(at))).collect(),
            })
        })
        .collect()
}

fn versions(ctx: &Ctx, app: &str, image: Option<&str>) -> Outcome<()> {
    let db = events_db::open(ctx.backend_options())?;
    let (sql, params) = versions_sql(app, image);
    let list = adoption(&db.query(&sql, &params)?);
    let json = serde_json::json!({ "app": app, "customers": list });
    ctx.out.result(&json, || {
        if list.is_empty() {
            return format!("no pulls by tag of app {app}");
        }
        let lines: Vec<Vec<String>> = list
            .iter()
            .map(|a| {
                let others: Vec<&str> = a.versions.iter().skip(1).map(|(v, _, _)| v.as_str()).collect();
                vec![
                    a.customer.clone(),
                    a.image.clone(),
                    a.newest.clone(),
                    a.newest_pulled_at.clone(),
                    others.join(", "),
                ]
            })
            .collect();
        table(&["customer", "image", "newest", "pulled", "also pulled"], &lines)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically_with_pre_releases_first() {
        let mut tags = vec!["1.10", "1.2", "v1.4", "1.4-rc1", "latest", "1.4", "0.9.9", "2", "1.2.1", "edge"];
        tags.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(tags, ["edge", "latest", "0.9.9", "1.2", "1.2.1", "1.4-rc1", "v1.4", "1.4", "1.10", "2"]);
        assert_eq!(compare_versions("1.02", "1.2"), Ordering::Equal);
    }

    #[test]
    fn adoption_names_each_customers_newest_version() {
        let row = |c: &str, i: &str, v: &str, p: i64, at: i64| {
            serde_json::json!({"customer": c, "image": i, "version": v, "pulls": p, "last_at": at})
                .as_object()
                .unwrap()
                .clone()
        };
        let rows = [
            row("Globex", "local/demo/hello", "1.2", 5, 1_800_000_000),
            row("Globex", "local/demo/hello", "1.4", 1, 1_800_000_100),
            row("Initech", "local/demo/hello", "1.2", 2, 1_800_000_200),
        ];
        let got = adoption(&rows);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].customer.as_str(), got[0].newest.as_str()), ("Globex", "1.4"));
        assert_eq!(got[0].versions.iter().map(|v| v.0.as_str()).collect::<Vec<_>>(), ["1.4", "1.2"]);
        assert_eq!((got[1].customer.as_str(), got[1].newest.as_str()), ("Initech", "1.2"));
        assert_eq!(got[1].newest_pulled_at, timestamp(1_800_000_200));
    }

    #[test]
    fn usage_groups_by_fixed_columns_and_binds_values() {
        let (sql, params) = usage_sql("demo", UsageBy::Version, "2027-01-01");
        assert!(sql.starts_with("SELECT u.image AS image, u.version AS version, SUM(u.pulls)"), "{sql}");
        assert!(sql.contains("AND c.image = u.image AND c.version = u.version"), "{sql}");
        assert!(sql.ends_with("GROUP BY u.image, u.version ORDER BY pulls DESC, u.image, u.version"), "{sql}");
        assert_eq!(params, [Param::Text("demo"), Param::Text("2027-01-01")]);
        let (sql, params) = versions_sql("demo", Some("local/demo/hello"));
        assert!(sql.contains("AND image = ?2 GROUP BY customer, image, version"), "{sql}");
        assert_eq!(params.len(), 2);
    }
}
