//! The events database (D1, migrations/) that `pullgate logs` and `pullgate usage` read: the
//! local one `wrangler dev` writes (through `wrangler d1 execute --local`, same persist dir as
//! the KV backend), or the production one through the D1 REST API (same token and retries as
//! the KV backend). Statements always carry their values as `?N` parameters.

use pullgate::events::Param;
use serde::Deserialize;

use crate::failure::{Failure, Outcome};
use crate::kv::cloudflare::CloudflareKv;
use crate::kv::local::{parse_json_after, LocalKv};
use crate::kv::BackendOptions;
use crate::settings::EVENTS_DB_BINDING;

/// One result row, column name → value.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// A place statements run.
pub trait EventsDb {
    /// Runs one statement with `?N` placeholders bound to `params`; its result rows.
    fn query(&self, sql: &str, params: &[Param<'_>]) -> Outcome<Vec<Row>>;
}

/// One statement's answer, as both wrangler's `--json` and the REST API give it.
#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    results: Vec<Row>,
}

/// Opens the events database of the selected backend.
pub fn open(options: &BackendOptions) -> Outcome<Box<dyn EventsDb>> {
    let config = options.wrangler_config()?;
    let missing = || {
        Failure::usage(format!("wrangler.toml has no D1 database bound as {EVENTS_DB_BINDING}"))
            .hint("add the [[d1_databases]] entry of the repository's wrangler.toml (see README, pull logs)")
    };
    match options.selected().as_deref() {
        Some("local") => {
            let name = config.as_ref().and_then(|c| c.events_db_name.clone()).ok_or_else(missing)?;
            Ok(Box::new(LocalDb { wrangler: options.open_local()?, name }))
        }
        Some("cloudflare") => {
            let id = config.and_then(|c| c.events_db_id).ok_or_else(missing)?;
            if id.bytes().all(|b| b == b'0' || b == b'-') {
                return Err(Failure::usage("the D1 database id is still wrangler.toml's placeholder (all zeros)")
                    .hint("create it with `wrangler d1 create pullgate-events` and put its id in wrangler.toml"));
            }
            Ok(Box::new(CloudflareDb { api: CloudflareKv::from_options(options)?, id }))
        }
        // `open` explains a missing or unknown backend.
        _ => Err(options.open().err().unwrap_or_else(|| Failure::usage("use --backend local or cloudflare"))),
    }
}

struct LocalDb {
    wrangler: LocalKv,
    name: String,
}

impl EventsDb for LocalDb {
    fn query(&self, sql: &str, params: &[Param<'_>]) -> Outcome<Vec<Row>> {
        let stdout = self.wrangler.d1_execute(&self.name, &inline(sql, params)?)?;
        let answers: Vec<Answer> = parse_json_after(&stdout, '[')?;
        Ok(answers.into_iter().next().unwrap_or_default().results)
    }
}

struct CloudflareDb {
    api: CloudflareKv,
    id: String,
}

impl EventsDb for CloudflareDb {
    fn query(&self, sql: &str, params: &[Param<'_>]) -> Outcome<Vec<Row>> {
        let body = serde_json::json!({ "sql": sql, "params": params.iter().map(|p| json(*p)).collect::<Vec<_>>() });
        let answers: Vec<Answer> = self.api.d1_query(&self.id, &body.to_string())?;
        Ok(answers.into_iter().next().unwrap_or_default().results)
    }
}

fn json(param: Param<'_>) -> serde_json::Value {
    match param {
        Param::Text(s) => s.into(),
        Param::Int(n) => n.into(),
        Param::Null => serde_json::Value::Null,
    }
}

/// `wrangler d1 execute` takes no parameters, so each `?N` becomes a literal that cannot end
/// or change the statement: text as the hex of its UTF-8 bytes cast back to TEXT, integers as
/// digits. The statement text itself is always the CLI's own.
pub fn inline(sql: &str, params: &[Param<'_>]) -> Outcome<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('?') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let index: usize =
            after[..digits].parse().map_err(|_| Failure::failed(format!("bad placeholder in {sql:?}")))?;
        let param = index
            .checked_sub(1)
            .and_then(|i| params.get(i))
            .ok_or_else(|| Failure::failed(format!("?{index} has no value in {sql:?}")))?;
        match param {
            Param::Text(s) => {
                let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
                out.push_str(&format!("CAST(X'{hex}' AS TEXT)"));
            }
            Param::Int(n) => out.push_str(&n.to_string()),
            Param::Null => out.push_str("NULL"),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_literals_that_cannot_break_out() {
        let sql = "SELECT * FROM events WHERE app = ?1 AND customer = ?2 AND at >= ?3 AND tag IS ?4 AND app = ?1";
        let got =
            inline(sql, &[Param::Text("demo"), Param::Text("x' OR 1=1 --"), Param::Int(-5), Param::Null]).unwrap();
        assert_eq!(
            got,
            "SELECT * FROM events WHERE app = CAST(X'64656D6F' AS TEXT) AND customer = \
             CAST(X'7827204F5220313D31202D2D' AS TEXT) AND at >= -5 AND tag IS NULL AND app = CAST(X'64656D6F' AS TEXT)"
        );
        assert!(!got.contains("OR 1=1"));
        assert_eq!(inline("SELECT 1", &[]).unwrap(), "SELECT 1");
        assert_eq!(inline("x = ?1", &[Param::Text("")]).unwrap(), "x = CAST(X'' AS TEXT)");
    }

    #[test]
    fn a_placeholder_without_a_value_is_a_failure() {
        for sql in ["a = ?2", "a = ?0", "a = ?"] {
            assert!(inline(sql, &[Param::Int(1)]).is_err(), "{sql}");
        }
    }
}
