//! `pullgate webhook add|list|remove|test`: the app's hooks in the events database (D1, next
//! to the delivery status the edge's consumer writes), each secret sealed with the root secret.

use pullgate::events::{event_id, Param};
use pullgate::keys::Sealed;
use pullgate::webhook::{self, Payload, Topic};

use super::http;
use super::Ctx;
use crate::cli::WebhookCommand;
use crate::events_db::{self, Row};
use crate::failure::{Failure, Outcome};
use crate::output::{relative, table, timestamp};
use crate::secrets;
use crate::validate;

/// Most of a receiver's answer `webhook test` reads.
const ANSWER_LIMIT: usize = 4096;

pub fn run(ctx: &Ctx, command: WebhookCommand) -> Outcome<()> {
    match command {
        WebhookCommand::Add { app, url, events, insecure_dev } => add(ctx, &app, &url, &events, insecure_dev),
        WebhookCommand::List { app } => list(ctx, app.as_deref()),
        WebhookCommand::Remove { id } => remove(ctx, &id),
        WebhookCommand::Test { id } => test(ctx, &id),
    }
}

fn hook_id(id: &str) -> Outcome<&str> {
    if webhook::is_hook_id(id) {
        Ok(id)
    } else {
        Err(Failure::usage(format!("{id:?} is not a webhook id (wh_ and 16 hex digits)"))
            .hint("`pullgate webhook list` shows them"))
    }
}

fn add(ctx: &Ctx, app: &str, url: &str, events: &str, insecure_dev: bool) -> Outcome<()> {
    let app = validate::slug(app)?;
    if insecure_dev {
        ctx.refuse_insecure_dev_in_production()?;
    }
    let topics = webhook::parse_topics(events).map_err(|e| Failure::usage(format!("--events: {e}")))?;
    let url = webhook::check_url(url, insecure_dev).map_err(|e| {
        Failure::usage(e.to_string())
            .hint("deliveries go to https URLs on public hosts; --insecure-dev for wrangler dev")
    })?;
    let root = secrets::require_root()?;
    super::require_app(ctx.kv()?, &app)?;
    let id = format!("wh_{}", secrets::random_hex::<8>()?);
    let secret = format!("{}{}", webhook::SECRET_PREFIX, secrets::random_hex::<32>()?);
    let sealed = root.secret.seal(&webhook::seal_context(&id), secret.as_bytes(), secrets::random_bytes::<24>()?);
    let sealed = serde_json::to_string(&sealed).map_err(|e| Failure::failed(format!("cannot encode: {e}")))?;
    let stored = webhook::format_topics(&topics);
    let db = events_db::open(ctx.backend_options())?;
    db.query(
        "INSERT INTO webhooks (id, app, url, events, sealed, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Param::Text(&id),
            Param::Text(&app),
            Param::Text(url.as_str()),
            Param::Text(&stored),
            Param::Text(&sealed),
            Param::Int(ctx.now),
        ],
    )?;
    let json = serde_json::json!({ "id": id, "app": app, "url": url.as_str(), "events": topics, "secret": secret });
    ctx.out.result(&json, || {
        format!(
            "webhook {id} of app {app}: {} for {stored}\nsigning secret (shown once; keep it with the receiver):\n{secret}",
            url.as_str()
        )
    })
}

fn list(ctx: &Ctx, app: Option<&str>) -> Outcome<()> {
    let app = app.map(validate::slug).transpose()?;
    let columns = "id, app, url, events, created_at, last_at, last_status, last_error, delivered, failures";
    let db = events_db::open(ctx.backend_options())?;
    let rows = match &app {
        Some(app) => db.query(
            &format!("SELECT {columns} FROM webhooks WHERE app = ?1 ORDER BY created_at, id"),
            &[Param::Text(app)],
        )?,
        None => db.query(&format!("SELECT {columns} FROM webhooks ORDER BY app, created_at, id"), &[])?,
    };
    let json = serde_json::json!({ "webhooks": rows });
    ctx.out.result(&json, || human(&rows, ctx.now))
}

fn text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn human(rows: &[Row], now: i64) -> String {
    if rows.is_empty() {
        return "no webhooks".into();
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let last = match r.get("last_at").and_then(serde_json::Value::as_i64) {
                Some(at) => {
                    let status = match text(r, "last_status").as_str() {
                        "0" => "no answer".to_string(),
                        s => s.to_string(),
                    };
                    format!("{status} {} ({})", relative(at, now), timestamp(at))
                }
                None => "never".into(),
            };
            vec![
                text(r, "id"),
                text(r, "app"),
                text(r, "url"),
                text(r, "events"),
                last,
                text(r, "delivered"),
                text(r, "failures"),
                text(r, "last_error"),
            ]
        })
        .collect();
    table(&["id", "app", "url", "events", "last delivery", "delivered", "failed", "last error"], &lines)
}

fn remove(ctx: &Ctx, id: &str) -> Outcome<()> {
    let id = hook_id(id)?;
    let db = events_db::open(ctx.backend_options())?;
    let found = db.query("DELETE FROM webhooks WHERE id = ?1 RETURNING id", &[Param::Text(id)])?;
    if found.is_empty() {
        return Err(Failure::failed(format!("no webhook {id}")));
    }
    let json = serde_json::json!({ "removed": id });
    ctx.out.result(&json, || format!("removed webhook {id}; its queued deliveries are dropped"))
}

/// Signs and sends a `test` delivery the way the edge does, from this machine, and records the
/// answer as the hook's last delivery.
fn test(ctx: &Ctx, id: &str) -> Outcome<()> {
    let id = hook_id(id)?;
    let db = events_db::open(ctx.backend_options())?;
    let rows = db.query("SELECT app, url, sealed FROM webhooks WHERE id = ?1", &[Param::Text(id)])?;
    let row = rows.first().ok_or_else(|| Failure::failed(format!("no webhook {id}")))?;
    let root = secrets::require_root()?;
    let sealed: Sealed = serde_json::from_str(&text(row, "sealed"))
        .map_err(|_| Failure::failed(format!("webhook {id}'s sealed secret is malformed")))?;
    let secret = root
        .secret
        .open(&webhook::seal_context(id), &sealed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Failure::failed(format!("webhook {id}'s secret does not open with {}", root.source)))?;
    let url = text(row, "url");
    let insecure = ctx.backend_options().selected().as_deref() == Some("local");
    webhook::check_url(&url, insecure).map_err(|e| Failure::failed(format!("webhook {id}: {e}")))?;
    let payload = Payload {
        id: event_id(secrets::random_bytes::<16>()?),
        topic: Topic::Test,
        created_at: ctx.now,
        app: text(row, "app"),
        event: None,
        license: None,
    };
    let body = payload.to_json();
    let signature = webhook::sign(&secret, ctx.now, body.as_bytes());
    let headers: Vec<(String, String)> = [
        ("content-type", "application/json"),
        (webhook::ID_HEADER, payload.id.as_str()),
        (webhook::TIMESTAMP_HEADER, &ctx.now.to_string()),
        (webhook::SIGNATURE_HEADER, signature.as_str()),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let answer = http::send(&http::agent(), "POST", &url, &headers, Some(body.as_bytes()), ANSWER_LIMIT);
    let (status, error) = match &answer {
        Ok(a) if (200..300).contains(&a.head.status) => (a.head.status, None),
        Ok(a) => (a.head.status, Some(format!("test: receiver answered {}", a.head.status))),
        Err(e) => (0, Some(format!("test: no answer: {e}"))),
    };
    let (sql, mut params) = match &error {
        None => (webhook::DELIVERED_SQL, vec![Param::Text(id), Param::Int(ctx.now), Param::Int(i64::from(status))]),
        Some(_) => (webhook::RETRYING_SQL, vec![Param::Text(id), Param::Int(ctx.now), Param::Int(i64::from(status))]),
    };
    if let Some(e) = &error {
        params.push(Param::Text(e));
    }
    db.query(sql, &params)?;
    let json = serde_json::json!({ "id": id, "event_id": payload.id, "status": status, "delivered": error.is_none() });
    match error {
        None => ctx.out.result(&json, || format!("test delivery {} to {url}: {status}", payload.id)),
        Some(e) => Err(Failure::failed(format!("webhook {id}: {e}"))
            .hint("the receiver must answer 2xx; check its URL and that it verifies Pullgate-Signature")),
    }
}
