//! `pullgate logs` (the pull log: sign-ins and pulls, newest first, from the events database)
//! and `pullgate logs purge` (every event and aggregate of a customer who leaves).

use pullgate::events::{Param, COLUMNS};

use super::Ctx;
use crate::cli::{LogsAction, LogsArgs, LogsQuery};
use crate::events_db::{self, Row};
use crate::failure::{Failure, Outcome};
use crate::output::{table, timestamp};
use crate::validate;

/// Most rows one `logs` call prints.
const MAX_LIMIT: u32 = 100_000;

/// The outcome words an event can carry (`access_log::outcome`).
pub const OUTCOMES: [&str; 8] =
    ["ok", "redirected", "refused", "not_found", "rate_limited", "bad_request", "upstream_failed", "error"];

pub fn run(ctx: &Ctx, args: LogsArgs) -> Outcome<()> {
    match args.action {
        Some(LogsAction::Purge { customer, app }) => purge(ctx, &customer, app.as_deref()),
        None => logs(ctx, &args.query),
    }
}

/// The app every query is scoped to.
pub fn required_app(app: Option<&str>) -> Outcome<String> {
    let app = app.ok_or_else(|| Failure::usage("--app is required").hint("the app slug, e.g. --app acme"))?;
    validate::slug(app)
}

/// A filter, checked: what `logs_sql` turns into a statement.
#[derive(Debug, PartialEq, Eq)]
pub struct Filter {
    pub app: String,
    pub customer: Option<String>,
    pub license: Option<String>,
    pub image: Option<String>,
    pub since: Option<i64>,
    pub outcome: Option<String>,
    pub kind: Option<String>,
    pub limit: u32,
}

impl Filter {
    pub fn from_query(query: &LogsQuery, now: i64) -> Outcome<Filter> {
        let since = query.since.as_deref().map(|s| validate::since(s, now)).transpose()?;
        if let Some(o) = query.outcome.as_deref().filter(|o| !OUTCOMES.contains(o)) {
            return Err(Failure::usage(format!("--outcome {o:?} is not one of {}", OUTCOMES.join(", "))));
        }
        if let Some(k) =
            query.kind.as_deref().filter(|k| !["sign_in", "manifest", "blob", "tags", "referrers"].contains(k))
        {
            return Err(Failure::usage(format!("--kind {k:?} is not one of sign_in, manifest, blob, tags, referrers")));
        }
        if query.limit == 0 || query.limit > MAX_LIMIT {
            return Err(Failure::usage(format!("--limit must be 1 to {MAX_LIMIT}")));
        }
        Ok(Filter {
            app: required_app(query.app.as_deref())?,
            customer: query.customer.clone(),
            license: query.license.clone(),
            image: query.image.clone(),
            since,
            outcome: query.outcome.clone(),
            kind: query.kind.clone(),
            limit: query.limit,
        })
    }
}

/// The `SELECT` for a filter: fixed SQL, every value a parameter.
pub fn logs_sql(f: &Filter) -> (String, Vec<Param<'_>>) {
    let mut sql = format!("SELECT {} FROM events WHERE app = ?1", COLUMNS.join(", "));
    let mut params = vec![Param::Text(&f.app)];
    let conditions = [
        ("customer =", f.customer.as_deref().map(Param::Text)),
        ("license =", f.license.as_deref().map(Param::Text)),
        ("image =", f.image.as_deref().map(Param::Text)),
        ("at >=", f.since.map(Param::Int)),
        ("outcome =", f.outcome.as_deref().map(Param::Text)),
        ("kind =", f.kind.as_deref().map(Param::Text)),
    ];
    for (condition, value) in conditions {
        if let Some(value) = value {
            params.push(value);
            sql.push_str(&format!(" AND {condition} ?{}", params.len()));
        }
    }
    params.push(Param::Int(i64::from(f.limit)));
    sql.push_str(&format!(" ORDER BY at DESC, id LIMIT ?{}", params.len()));
    (sql, params)
}

fn logs(ctx: &Ctx, query: &LogsQuery) -> Outcome<()> {
    let filter = Filter::from_query(query, ctx.now)?;
    let db = events_db::open(ctx.backend_options())?;
    let (sql, params) = logs_sql(&filter);
    let rows = db.query(&sql, &params)?;
    let json = serde_json::json!({ "app": filter.app, "count": rows.len(), "events": rows });
    ctx.out.result(&json, || human(&rows))
}

fn text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn human(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no events".into();
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let at = r.get("at").and_then(serde_json::Value::as_i64).map(timestamp).unwrap_or_default();
            let reference = match text(r, "tag") {
                t if t.is_empty() => text(r, "digest"),
                t => t,
            };
            let agent: Vec<String> =
                ["agent", "agent_version", "platform"].iter().map(|c| text(r, c)).filter(|t| !t.is_empty()).collect();
            let agent = agent.join(" ");
            vec![
                at,
                text(r, "kind"),
                text(r, "customer"),
                text(r, "image"),
                reference,
                text(r, "outcome"),
                text(r, "reason"),
                text(r, "client"),
                agent,
            ]
        })
        .collect();
    table(&["time", "kind", "customer", "image", "reference", "outcome", "reason", "client", "agent"], &lines)
}

/// The three deletes of a purge (raw events and both aggregates), each with its parameters.
pub fn purge_sql<'a>(customer: &'a str, app: Option<&'a str>) -> Vec<(String, Vec<Param<'a>>)> {
    ["events", "daily_usage", "daily_clients"]
        .into_iter()
        .map(|table| match app {
            Some(app) => (
                format!("DELETE FROM {table} WHERE customer = ?1 AND app = ?2"),
                vec![Param::Text(customer), Param::Text(app)],
            ),
            None => (format!("DELETE FROM {table} WHERE customer = ?1"), vec![Param::Text(customer)]),
        })
        .collect()
}

fn purge(ctx: &Ctx, customer: &str, app: Option<&str>) -> Outcome<()> {
    let customer = customer.trim();
    if customer.is_empty() {
        return Err(Failure::usage("--customer must name the customer, as in its licenses"));
    }
    let app = app.map(validate::slug).transpose()?;
    let db = events_db::open(ctx.backend_options())?;
    for (sql, params) in purge_sql(customer, app.as_deref()) {
        db.query(&sql, &params)?;
    }
    let scope = app.as_deref().map_or("every app".to_string(), |a| format!("app {a}"));
    let json = serde_json::json!({ "purged": { "customer": customer, "app": app } });
    ctx.out.result(&json, || format!("purged every event and usage row of {customer:?} in {scope}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> LogsQuery {
        LogsQuery {
            app: Some("demo".into()),
            customer: None,
            license: None,
            image: None,
            since: None,
            outcome: None,
            kind: None,
            limit: 100,
        }
    }

    #[test]
    fn every_filter_value_is_a_parameter() {
        let q = LogsQuery {
            customer: Some("x' OR 1=1".into()),
            license: Some("lic_1".into()),
            image: Some("local/demo/hello".into()),
            since: Some("7d".into()),
            outcome: Some("refused".into()),
            kind: Some("manifest".into()),
            ..query()
        };
        let f = Filter::from_query(&q, 1_000_000).unwrap();
        let (sql, params) = logs_sql(&f);
        assert!(
            sql.ends_with(
                "FROM events WHERE app = ?1 AND customer = ?2 AND license = ?3 AND image = ?4 AND at >= ?5 \
             AND outcome = ?6 AND kind = ?7 ORDER BY at DESC, id LIMIT ?8"
            ),
            "{sql}"
        );
        assert!(!sql.contains("OR 1=1") && !sql.contains("demo"), "{sql}");
        assert_eq!(
            params,
            [
                Param::Text("demo"),
                Param::Text("x' OR 1=1"),
                Param::Text("lic_1"),
                Param::Text("local/demo/hello"),
                Param::Int(1_000_000 - 7 * 86_400),
                Param::Text("refused"),
                Param::Text("manifest"),
                Param::Int(100),
            ]
        );
        let bare = Filter::from_query(&query(), 0).unwrap();
        let (sql, params) = logs_sql(&bare);
        assert!(sql.ends_with("WHERE app = ?1 ORDER BY at DESC, id LIMIT ?2"), "{sql}");
        assert_eq!(params.len(), 2);
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        for q in [
            LogsQuery { app: None, ..query() },
            LogsQuery { app: Some("Bad App".into()), ..query() },
            LogsQuery { outcome: Some("denied".into()), ..query() },
            LogsQuery { kind: Some("push".into()), ..query() },
            LogsQuery { since: Some("soon".into()), ..query() },
            LogsQuery { since: Some("2999-01-01".into()), ..query() },
            LogsQuery { limit: 0, ..query() },
        ] {
            let err = Filter::from_query(&q, 1_800_000_000).unwrap_err();
            assert_eq!(err.exit, crate::failure::Exit::Usage, "{q:?}: {err}");
        }
    }

    #[test]
    fn a_purge_deletes_raw_events_and_both_aggregates() {
        let statements = purge_sql("Globex", Some("demo"));
        let tables: Vec<&str> = statements.iter().map(|(s, _)| s.split(' ').nth(2).unwrap()).collect();
        assert_eq!(tables, ["events", "daily_usage", "daily_clients"]);
        assert!(statements.iter().all(|(s, p)| s.ends_with("customer = ?1 AND app = ?2") && p.len() == 2));
        assert!(purge_sql("Globex", None).iter().all(|(s, p)| s.ends_with("WHERE customer = ?1") && p.len() == 1));
    }
}
