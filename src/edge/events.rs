//! Pull events at the edge: the queue producer (sent after the response, never in its way), the
//! queue consumer that stores each batch in D1 (then hands it to `webhooks`), and the daily cron
//! that applies the retention (and has `webhooks` send license-expiring deliveries).

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::{JsCast, JsValue};
use worker::{
    console_error, event, Context, D1PreparedStatement, Delay, Env, MessageBatch, ScheduleContext, ScheduledEvent,
};

use crate::event_batch::{self, Batch};
use crate::events::{self, Event, Param};
use crate::service::settings;

/// The Queue the edge sends events to (wrangler.toml `[[queues.producers]]`).
pub const QUEUE_BINDING: &str = "PULLGATE_EVENTS";
/// The D1 database the consumer writes (wrangler.toml `[[d1_databases]]`).
pub const DB_BINDING: &str = "PULLGATE_DB";
/// Test hook: the first batch holding an event of this customer is written, then reported as
/// failed, so its redelivery must be deduplicated by the event ids. Unset in production.
const RETRY_HOOK_VAR: &str = "EVENTS_TEST_RETRY_CUSTOMER";

thread_local! {
    /// `EVENTS` is not `false` and the queue is bound: read once per isolate, as vars are fixed.
    static EVENTS_ON: OnceCell<bool> = const { OnceCell::new() };
    /// The retry hook fired in this isolate.
    static HOOK_FIRED: Cell<bool> = const { Cell::new(false) };
    /// The isolate's event-id seed and the ids drawn from it.
    static ID_SOURCE: RefCell<Option<([u8; 32], u64)>> = const { RefCell::new(None) };
    /// The batch later requests' events join, until its opener sends it.
    static OPEN_BATCH: RefCell<Option<Rc<RefCell<Batch<Event>>>>> = const { RefCell::new(None) };
}

/// Whether this deployment sends events.
pub fn events_on(env: &Env) -> bool {
    EVENTS_ON.with(|on| {
        *on.get_or_init(|| {
            settings::events_on(&|name: &str| env.var(name).ok().map(|v| v.to_string()))
                && env.queue(QUEUE_BINDING).is_ok()
        })
    })
}

/// An event id's 16 bytes: `events::id_bytes` over a seed drawn once per isolate from
/// `crypto.getRandomValues`, the runtime's CSPRNG (four boundary crossings per event saved).
pub fn random_id() -> Option<[u8; 16]> {
    ID_SOURCE.with(|source| {
        let mut source = source.borrow_mut();
        if source.is_none() {
            *source = Some((crypto_seed()?, 0));
        }
        let (seed, counter) = source.as_mut()?;
        *counter += 1;
        Some(events::id_bytes(seed, *counter))
    })
}

fn crypto_seed() -> Option<[u8; 32]> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
    let fill: js_sys::Function =
        js_sys::Reflect::get(&crypto, &JsValue::from_str("getRandomValues")).ok()?.dyn_into().ok()?;
    let bytes = js_sys::Uint8Array::new_with_length(32);
    fill.call1(&crypto, &bytes).ok()?;
    let mut out = [0u8; 32];
    bytes.copy_to(&mut out);
    Some(out)
}

/// Queues the events once the response is on its way; a failure is logged, never surfaced.
/// They join the isolate's open batch if one has room; otherwise this request opens one and
/// sends it, with whatever later requests added, `event_batch::WINDOW_MS` after its response.
/// The batch holds only events (plain data) and is serialised and sent in the opener's
/// `waitUntil`, so no request touches another's I/O and none serialises before its response.
pub fn send_after_response(ctx: &Context, env: &Env, list: Vec<Event>) {
    let list = match OPEN_BATCH.with(|open| open.borrow().clone()) {
        Some(open) => match open.borrow_mut().add(list) {
            Ok(()) => return,
            Err(list) => list,
        },
        None => list,
    };
    let env = env.clone();
    let mut batch = Batch::default();
    if let Err(list) = batch.add(list) {
        // More than a batch holds (never from one request today): sent by themselves.
        ctx.wait_until(async move { send(&env, list).await });
        return;
    }
    let batch = Rc::new(RefCell::new(batch));
    OPEN_BATCH.with(|open| *open.borrow_mut() = Some(Rc::clone(&batch)));
    ctx.wait_until(async move {
        Delay::from(Duration::from_millis(event_batch::WINDOW_MS)).await;
        OPEN_BATCH.with(|open| {
            let mut open = open.borrow_mut();
            if open.as_ref().is_some_and(|b| Rc::ptr_eq(b, &batch)) {
                *open = None;
            }
        });
        let list = batch.borrow_mut().take();
        send(&env, list).await;
    });
}

/// The events packed into as few messages as fit (`event_batch::messages`), each send one
/// crossing: the messages travel as lines (JSON holds no raw line break).
async fn send(env: &Env, list: Vec<Event>) {
    let count = list.len();
    for messages in event_batch::sends(event_batch::messages(list.iter().map(Event::to_json).collect())) {
        if let Err(e) = super::boundary::send_texts(env, QUEUE_BINDING, &messages).await {
            console_error!("events: a queue send of {count} event(s) failed, its share lost: {e}");
        }
    }
}

fn js(param: Param<'_>) -> JsValue {
    match param {
        Param::Text(s) => JsValue::from_str(s),
        // Unix seconds, statuses and byte counts: exact in an f64 (below 2^53).
        Param::Int(n) => JsValue::from_f64(n as f64),
        Param::Null => JsValue::NULL,
    }
}

/// Stores a batch in one D1 `batch` (a transaction): `INSERT OR IGNORE` on the event id, so a
/// redelivered batch adds nothing. A failed write retries the whole batch; a message that is
/// not an event is logged and dropped.
#[event(queue)]
async fn consume(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    // Errors are handled here: an `Err` from this function would panic in the glue.
    if batch.queue() == super::webhooks::QUEUE_NAME {
        super::webhooks::consume(batch, env).await;
        return Ok(());
    }
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            console_error!("events: D1 binding {DB_BINDING}: {e}; batch retried");
            batch.retry_all();
            return Ok(());
        }
    };
    let hook = env.var(RETRY_HOOK_VAR).ok().map(|v| v.to_string()).filter(|v| !v.is_empty());
    let sql = events::insert_sql();
    // Blob sizes go first, so a redirected blob's event in the same batch finds its size.
    let mut sizes: Vec<D1PreparedStatement> = Vec::new();
    let mut statements: Vec<D1PreparedStatement> = Vec::new();
    let mut hooked = false;
    let mut stored: Vec<Event> = Vec::new();
    for message in batch.raw_iter() {
        let Some(text) = message.body().as_string() else {
            console_error!("events: a message that is not text was dropped");
            continue;
        };
        let events = match Event::decode_message(&text) {
            Ok(events) => events,
            Err(e) => {
                console_error!("events: {e}; message dropped");
                continue;
            }
        };
        for event in events {
            hooked |= hook.is_some() && event.customer == hook;
            for row in event.blob_size_rows() {
                let values: Vec<JsValue> = row.into_iter().map(js).collect();
                match db.prepare(events::BLOB_SIZE_SQL).bind(&values) {
                    Ok(statement) => sizes.push(statement),
                    Err(e) => {
                        console_error!("events: binding a blob size of event {}: {e}; batch retried", event.id);
                        batch.retry_all();
                        return Ok(());
                    }
                }
            }
            let values: Vec<JsValue> = event.row().into_iter().map(js).collect();
            match db.prepare(sql.as_str()).bind(&values) {
                Ok(statement) => {
                    statements.push(statement);
                    stored.push(event);
                }
                Err(e) => {
                    console_error!("events: binding event {}: {e}; batch retried", event.id);
                    batch.retry_all();
                    return Ok(());
                }
            }
        }
    }
    let count = statements.len();
    if count == 0 {
        batch.ack_all();
        return Ok(());
    }
    sizes.append(&mut statements);
    if let Err(e) = db.batch(sizes).await {
        console_error!("events: D1 batch of {count} failed: {e}; batch retried");
        batch.retry_all();
        return Ok(());
    }
    if !super::webhooks::enqueue(&env, &db, &stored).await {
        batch.retry_all();
        return Ok(());
    }
    if hooked && !HOOK_FIRED.with(|f| f.replace(true)) {
        console_error!("events: {RETRY_HOOK_VAR}: batch of {count} written, reported failed once");
        batch.retry_all();
        return Ok(());
    }
    batch.ack_all();
    Ok(())
}

/// The daily cron (wrangler.toml `[triggers] crons`): raw events older than `RETENTION_DAYS`
/// (default 90) are deleted, and blob sizes no manifest stated since; the daily aggregates
/// stay. Then `license-expiring` deliveries.
#[event(scheduled)]
async fn retention(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let days = env.var("RETENTION_DAYS").ok().map(|v| v.to_string());
    let cutoff = super::transport::now_unix() - events::retention_seconds(days.as_deref());
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            console_error!("retention: D1 binding {DB_BINDING}: {e}");
            return;
        }
    };
    for sql in [events::RETENTION_SQL, events::BLOB_SIZES_RETENTION_SQL] {
        let run = match db.prepare(sql).bind(&[js(Param::Int(cutoff))]) {
            Ok(statement) => statement.run().await,
            Err(e) => Err(e),
        };
        if let Err(e) = run {
            console_error!("retention: {sql} (before {cutoff}) failed: {e}");
        }
    }
    super::webhooks::expiring(&env).await;
}
