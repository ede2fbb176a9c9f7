//! Webhook deliveries at the edge (`crate::webhook`): the events consumer turns stored events
//! into deliveries on their own queue; this Worker consumes that queue, POSTs each signed
//! delivery (no redirect followed, bounded time), and queues a failed one again as its next
//! attempt with the backoff as delay; the daily cron adds `license-expiring` deliveries.

use std::time::Duration;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{
    console_error, D1Database, Delay, Env, MessageBatch, MessageExt, QueueContentType, RawMessageBuilder, SendMessage,
};

use crate::events::Event;
use crate::keys::{RootKeyring, RootSecret, Sealed, Unseal, PREVIOUS_ROOT_SECRET_NAME, ROOT_SECRET_NAME};
use crate::service::settings::Settings;
use crate::store::{self, LicenseRecord};
use crate::upstream::TransportError;
use crate::webhook::{self, Delivery, ExpiringLicense, Payload, Topic};

use super::transport::now_unix;

/// The queue deliveries wait in (wrangler.toml `[[queues.producers]]`, consumed by this Worker).
pub const QUEUE_BINDING: &str = "PULLGATE_WEBHOOKS";
/// Its name, which tells the queue handler which kind of batch it got.
pub const QUEUE_NAME: &str = "pullgate-webhooks";
/// A receiver has this long to answer; the attempt then counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Most messages one `sendBatch` takes.
const SEND_CHUNK: usize = 100;
/// Pauses before writing a hook's status again after a failed write.
const STATUS_WRITE_PAUSES_MS: [u64; 3] = [100, 500, 2000];
/// Most license records the daily cron reads.
const MAX_LICENSES: usize = 10_000;

/// A hook as the consumer matches it: no URL, no secret.
#[derive(Deserialize)]
struct HookRow {
    id: String,
    app: String,
    events: String,
}

/// What an attempt needs: where, and the sealed secret.
#[derive(Deserialize)]
struct Target {
    url: String,
    sealed: String,
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// Queues one delivery per (event, hook that wants it). `false` when that failed, so the events
/// batch is retried: a receiver may then get an event twice, with the same id.
pub async fn enqueue(env: &Env, db: &D1Database, events: &[Event]) -> bool {
    let Ok(queue) = env.queue(QUEUE_BINDING) else { return true };
    let hooks: Vec<HookRow> = match db.prepare(webhook::HOOKS_SQL).all().await.and_then(|r| r.results()) {
        Ok(hooks) => hooks,
        Err(e) => {
            console_error!("webhooks: reading the hooks failed: {e}");
            return false;
        }
    };
    if hooks.is_empty() {
        return true;
    }
    let mut deliveries = Vec::new();
    for event in events {
        let Some(topic) = Topic::of(event) else { continue };
        let Some(payload) = Payload::of_event(topic, event) else { continue };
        for hook in hooks.iter().filter(|h| Some(&h.app) == event.app.as_ref() && webhook::wants(&h.events, topic)) {
            deliveries.push(Delivery::first(&hook.id, &payload));
        }
    }
    send(&queue, deliveries.iter().map(|d| (d, 0)).collect()).await
}

async fn send(queue: &worker::Queue, list: Vec<(&Delivery, u32)>) -> bool {
    for chunk in list.chunks(SEND_CHUNK) {
        let messages: Vec<SendMessage<JsValue>> = chunk
            .iter()
            .map(|(d, delay)| {
                RawMessageBuilder::new(text(&d.to_json()))
                    .delay_seconds(*delay)
                    .build_with_content_type(QueueContentType::Text)
            })
            .collect();
        if let Err(e) = queue.send_raw_batch(messages).await {
            console_error!("webhooks: queueing {} deliveries failed: {e}", chunk.len());
            return false;
        }
    }
    true
}

/// The webhook queue's handler: one attempt per message.
pub async fn consume(batch: MessageBatch<JsValue>, env: Env) {
    let db = match env.d1(super::events::DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            console_error!("webhooks: D1 binding: {e}; batch retried");
            batch.retry_all();
            return;
        }
    };
    let fixed = webhook::fixed_delay(env.var("WEBHOOK_RETRY_SECONDS").ok().map(|v| v.to_string()).as_deref());
    let insecure = settings(&env).allow_insecure;
    let keyring = keyring(&env);
    for message in batch.raw_iter() {
        let delivery = match message.body().as_string().map(|t| Delivery::decode(&t)) {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                console_error!("webhooks: {e}; message dropped");
                message.ack();
                continue;
            }
            None => {
                message.ack();
                continue;
            }
        };
        let outcome = attempt(&db, keyring.as_ref(), insecure, &delivery).await;
        let now = now_unix();
        let (sql, status, error) = match &outcome {
            Attempt::Gone => {
                message.ack();
                continue;
            }
            Attempt::Delivered(status) => (webhook::DELIVERED_SQL, *status, None),
            Attempt::Failed(status, why) => match delivery.retry(fixed) {
                Some((next, delay)) => {
                    let Ok(queue) = env.queue(QUEUE_BINDING) else {
                        message.retry();
                        continue;
                    };
                    if !send(&queue, vec![(&next, delay)]).await {
                        // The same attempt again, later: the queue's own retry.
                        message.retry();
                        continue;
                    }
                    (webhook::RETRYING_SQL, *status, Some(format!("attempt {}: {why}", delivery.attempt)))
                }
                None => (
                    webhook::GAVE_UP_SQL,
                    *status,
                    Some(format!("gave up event {} after {} attempts: {why}", delivery.id, delivery.attempt)),
                ),
            },
        };
        message.ack();
        let mut values =
            vec![text(&delivery.hook), JsValue::from_f64(now as f64), JsValue::from_f64(f64::from(status))];
        if let Some(e) = &error {
            values.push(text(e));
        }
        // The attempt is made and acknowledged: its record is written again on a failure (a busy
        // database, as the events consumer's batch holds it), a few times, not lost at once.
        let mut pauses = STATUS_WRITE_PAUSES_MS.iter();
        loop {
            let run = match db.prepare(sql).bind(&values) {
                Ok(statement) => statement.run().await.map(|_| ()),
                Err(e) => Err(e),
            };
            match (run, pauses.next()) {
                (Ok(()), _) => break,
                (Err(_), Some(&ms)) => Delay::from(Duration::from_millis(ms)).await,
                (Err(e), None) => {
                    console_error!("webhooks: recording hook {}'s status failed: {e}", delivery.hook);
                    break;
                }
            }
        }
    }
}

enum Attempt {
    /// 2xx from the receiver.
    Delivered(u16),
    /// Anything else (0: no answer), and why.
    Failed(u16, String),
    /// The hook was removed: the delivery is dropped.
    Gone,
}

fn settings(env: &Env) -> Settings {
    Settings::read(|name: &str| env.var(name).ok().map(|v| v.to_string()))
}

fn keyring(env: &Env) -> Option<RootKeyring> {
    let read = |name: &str| env.secret(name).ok().and_then(|s| RootSecret::parse(&s.to_string()).ok());
    Some(RootKeyring::new(read(ROOT_SECRET_NAME)?, read(PREVIOUS_ROOT_SECRET_NAME)))
}

async fn attempt(db: &D1Database, keyring: Option<&RootKeyring>, insecure: bool, d: &Delivery) -> Attempt {
    let target: Option<Target> = match db.prepare(webhook::HOOK_SQL).bind(&[text(&d.hook)]) {
        Ok(statement) => match statement.first(None).await {
            Ok(t) => t,
            Err(e) => return Attempt::Failed(0, format!("reading the hook: {e}")),
        },
        Err(e) => return Attempt::Failed(0, format!("reading the hook: {e}")),
    };
    let Some(target) = target else { return Attempt::Gone };
    let Some(keyring) = keyring else { return Attempt::Failed(0, "the Worker has no root secret".into()) };
    let secret = match serde_json::from_str::<Sealed>(&target.sealed)
        .ok()
        .and_then(|s| keyring.unseal(&webhook::seal_context(&d.hook), &s).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(s) => s,
        None => return Attempt::Failed(0, "the hook's secret does not open with the root secret".into()),
    };
    if let Err(e) = webhook::check_url(&target.url, insecure) {
        return Attempt::Failed(0, e.to_string());
    }
    let timestamp = now_unix();
    match post(&target.url, d, timestamp, &webhook::sign(&secret, timestamp, d.body.as_bytes())).await {
        Ok(status) if (200..300).contains(&status) => Attempt::Delivered(status),
        Ok(status) if (300..400).contains(&status) => Attempt::Failed(status, "redirect (not followed)".into()),
        Ok(status) => Attempt::Failed(status, format!("receiver answered {status}")),
        Err(why) => Attempt::Failed(0, why),
    }
}

async fn post(url: &str, d: &Delivery, timestamp: i64, signature: &str) -> Result<u16, String> {
    let ts = timestamp.to_string();
    let headers = [
        ("content-type", "application/json"),
        ("user-agent", "pullgate-webhook/1"),
        (webhook::ID_HEADER, d.id.as_str()),
        (webhook::TIMESTAMP_HEADER, ts.as_str()),
        (webhook::SIGNATURE_HEADER, signature),
    ];
    match super::boundary::fetch_within(url, "POST", headers, Some(d.body.as_bytes()), TIMEOUT).await {
        Ok(resp) => Ok(resp.status_code()),
        Err(TransportError::Timeout) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
        Err(TransportError::Connect(detail)) => Err(format!("no answer: {detail}")),
        Err(e) => Err(format!("no answer: {e:?}")),
    }
}

/// The daily cron's part: one `license-expiring` delivery per hook that wants it and license
/// within `LICENSE_WARNING_DAYS` (default 14) of its expiry and not revoked.
pub async fn expiring(env: &Env) {
    let Ok(queue) = env.queue(QUEUE_BINDING) else { return };
    let Ok(db) = env.d1(super::events::DB_BINDING) else { return };
    let hooks: Vec<HookRow> = match db.prepare(webhook::HOOKS_SQL).all().await.and_then(|r| r.results()) {
        Ok(h) => h.into_iter().filter(|h: &HookRow| webhook::wants(&h.events, Topic::LicenseExpiring)).collect(),
        Err(e) => {
            console_error!("license-expiring: reading the hooks failed: {e}");
            return;
        }
    };
    if hooks.is_empty() {
        return;
    }
    let window = settings(env).license_warning_seconds;
    let Ok(kv) = env.kv(store::KV_BINDING) else { return };
    let now = now_unix();
    let mut deliveries = Vec::new();
    let mut cursor: Option<String> = None;
    let mut read = 0;
    loop {
        let mut list = kv.list().prefix(store::LICENSE_PREFIX.to_string());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = match list.execute().await {
            Ok(page) => page,
            Err(e) => {
                console_error!("license-expiring: listing licenses failed: {e}");
                break;
            }
        };
        for key in &page.keys {
            read += 1;
            let record: Option<LicenseRecord> = kv.get(&key.name).json().await.ok().flatten();
            let Some(record) = record.filter(|r| webhook::is_expiring(r.expires_at, now, window)) else { continue };
            if kv.get(&store::revocation_key(&record.id)).text().await.ok().flatten().is_some() {
                continue;
            }
            let license = ExpiringLicense {
                id: record.id.clone(),
                customer: record.customer.clone(),
                expires_at: record.expires_at,
            };
            let payload = Payload::expiring(&record.app, license, now);
            for hook in hooks.iter().filter(|h| h.app == record.app) {
                deliveries.push(Delivery::first(&hook.id, &payload));
            }
        }
        match page.cursor.filter(|_| !page.list_complete && read < MAX_LICENSES) {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if !send(&queue, deliveries.iter().map(|d| (d, 0)).collect()).await {
        console_error!("license-expiring: {} deliveries lost", deliveries.len());
    }
}
