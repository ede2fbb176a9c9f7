//! The Worker: the only code that touches the Workers runtime. It copies the few parts of a
//! request that decide anything into the core (`crate::service`), runs it with the runtime's
//! KV, fetch, cache and rate limiters (`runtime`, `transport`), and writes the answer out.

mod boundary;
mod events;
mod r2;
mod runtime;
mod transport;
mod webhooks;

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, console_warn, wasm_bindgen_futures, web_sys, Context, Env, Headers, Response,
    ResponseBody, ResponseBuilder,
};

use crate::route::TOKEN_PATH;
use crate::service::reply::{Headers as ReplyHeaders, Reply};
use crate::service::request::{split_url, FormBody, Incoming, UrlParts, READ_HEADERS};
use crate::service::token_endpoint::MAX_FORM_BYTES;
use crate::service::{self, Isolate, LogLine};

use runtime::WorkerRuntime;

thread_local! {
    /// Caches that live as long as the isolate: configuration, upstream tokens, blocked addresses.
    static ISOLATE: &'static Isolate = Box::leak(Box::default());
}

thread_local! {
    static REQUEST_HEADERS: boundary::Names = const { boundary::Names::new(&READ_HEADERS) };
    /// `TEST_TRAP_PATH`, read once per instance.
    static TRAP_PATH: OnceCell<Option<String>> = const { OnceCell::new() };
}

/// Test hook (tests/e2e_admin.rs, `a_trapped_request_leaves_the_next_ones_answered`): a request for this path panics, which traps the wasm, so the
/// test can check that the next requests are answered by a fresh instance. Unset in production.
const TRAP_PATH_VAR: &str = "TEST_TRAP_PATH";

/// The runtime's fetch handler. Most of a pull's requests (the 401 challenge, `/v2/` with a
/// token, the token itself) need no I/O, so their answer is ready at the first poll: that poll
/// runs here, synchronously, and such an answer goes back as the `Response` itself, without the
/// future executor's microtask round and promise. Only a request that waits on I/O is handed to
/// the executor, which polls it again at once with its real waker; every future on these paths
/// (`JsFuture` underneath) takes the waker of its latest poll, so the first poll's no-op waker
/// is never the one woken.
#[wasm_bindgen(js_name = fetch)]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> Result<JsValue, JsValue> {
    let mut answer: Pin<Box<dyn Future<Output = _>>> = Box::pin(handle(req, env, Context::new(ctx)));
    let settled = |response: worker::Result<web_sys::Response>| response.map(JsValue::from).map_err(JsValue::from);
    match answer.as_mut().poll(&mut task::Context::from_waker(task::Waker::noop())) {
        Poll::Ready(response) => settled(response),
        Poll::Pending => Ok(wasm_bindgen_futures::future_to_promise(async move { settled(answer.await) }).into()),
    }
}

async fn handle(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    // The runtime's request is read directly, in one crossing: `worker::Request` would copy its
    // method, URL and `cf` object across the boundary up front, its URL would be parsed again,
    // and each header read would be a crossing of its own.
    let events_on = events::events_on(&env);
    let boundary::RequestParts { method, url, headers, place } =
        REQUEST_HEADERS.with(|names| boundary::read_request(&req, names, events_on));
    let url = split_url(&url);
    let trap_here = TRAP_PATH.with(|trap| {
        let trap = trap.get_or_init(|| env.var(TRAP_PATH_VAR).ok().map(|v| v.to_string()));
        trap.as_deref().is_some_and(|trap| url.is_some_and(|u| u.path == trap))
    });
    if trap_here {
        panic!("{TRAP_PATH_VAR}: trapping on purpose");
    }
    let upload = r2::upload_of(&req, &method, url.map_or("", |u| u.path));
    let incoming = incoming(&req, method, url, headers, place, events_on).await;
    let rt = WorkerRuntime { env: &env, upload, events_on };
    // Behind `dyn`, the core's future keeps its own poll function, out of this one's (see
    // `service::dispatch`): a cold isolate compiles less before its first answer.
    let handled: Pin<Box<dyn Future<Output = _>>> = Box::pin(service::handle(&rt, ISOLATE.with(|i| *i), incoming));
    let handled = handled.await;
    if !handled.events.is_empty() {
        events::send_after_response(&ctx, &env, handled.events);
    }
    for line in handled.logs {
        match line {
            LogLine::Error(l) => console_error!("{l}"),
            LogLine::Warn(l) => console_warn!("{l}"),
            LogLine::Access(l) => console_log!("{l}"),
        }
    }
    write(handled.reply, &ctx)
}

/// Copies the request's decisive parts; the token POST's form is read here, bounded. The parts
/// only events use are copied only when events are on.
async fn incoming(
    req: &web_sys::Request,
    method: String,
    url: Option<UrlParts<'_>>,
    headers: Vec<Option<String>>,
    (country, colo): (Option<String>, Option<String>),
    events_on: bool,
) -> Incoming {
    // In `READ_HEADERS` order.
    let mut headers = headers.into_iter();
    let [host, authorization, accept, if_none_match, range, client_ip, user_agent] =
        std::array::from_fn(|_| headers.next().flatten());
    let user_agent = user_agent.filter(|_| events_on);
    let host = host.or_else(|| Some(url?.authority.to_string())).unwrap_or_default();
    let path = url.map_or(String::new(), |u| u.path.to_string());
    let form = if method == "POST" && path == TOKEN_PATH { read_form(req).await } else { FormBody::Absent };
    Incoming {
        method,
        query: url.and_then(|u| u.query.map(str::to_string)),
        scheme: url.map_or("https".to_string(), |u| u.scheme.to_string()),
        path,
        host,
        authorization,
        accept,
        if_none_match,
        range,
        client_ip,
        user_agent,
        country,
        colo,
        form,
    }
}

/// Reads at most `MAX_FORM_BYTES`: a larger announced length is refused unread, a body of a
/// length announced within the bound is read whole, and a stream of unannounced length that
/// runs past the bound is abandoned there.
async fn read_form(req: &web_sys::Request) -> FormBody {
    use futures_util::StreamExt as _;
    let announced = req.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return FormBody::TooLarge;
    }
    let Some(stream) = req.body() else { return FormBody::Absent };
    if announced.is_some() {
        return match transport::whole(&stream).await {
            Ok(body) if body.len() <= MAX_FORM_BYTES => FormBody::Read(body),
            Ok(_) => FormBody::TooLarge,
            Err(_) => FormBody::Unreadable,
        };
    }
    let Ok(mut stream) = Response::from_body(ResponseBody::Stream(stream)).and_then(|mut r| r.stream()) else {
        return FormBody::Unreadable;
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return FormBody::Unreadable };
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return FormBody::TooLarge;
        }
        body.extend_from_slice(&chunk);
    }
    FormBody::Read(body)
}

fn pairs(list: &ReplyHeaders) -> impl Iterator<Item = (&str, &str)> {
    list.iter().map(|(name, value)| (*name, value.as_str()))
}

fn headers_of(list: &ReplyHeaders) -> Headers {
    boundary::headers(pairs(list))
}

fn write(reply: Reply<Response>, ctx: &Context) -> worker::Result<web_sys::Response> {
    match reply {
        Reply::Fixed { status, headers, body } => {
            let body = js_sys::Uint8Array::from(body.as_slice());
            boundary::respond(status, pairs(&headers), &body)
        }
        Reply::Empty { status, headers } => boundary::respond(status, pairs(&headers), &JsValue::UNDEFINED),
        Reply::Relay { status, headers, body, fill_cache: Some((key, ttl)) } => {
            // The cache copy is a tee of worker's response; built the long way.
            let (_, stream) = body.into_parts();
            let mut client = ResponseBuilder::new().with_status(status).with_headers(headers_of(&headers)).body(stream);
            runtime::store_blob(ctx, key, ttl, &mut client);
            Ok(client.into())
        }
        Reply::Relay { status, headers, body, fill_cache: None } => {
            let body: JsValue = match body.into_parts().1 {
                ResponseBody::Stream(stream) => stream.into(),
                ResponseBody::Body(bytes) => js_sys::Uint8Array::from(bytes.as_slice()).into(),
                ResponseBody::Empty => JsValue::UNDEFINED,
            };
            boundary::respond(status, pairs(&headers), &body)
        }
    }
}
