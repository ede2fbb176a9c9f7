//! The Worker: the only code that touches the Workers runtime. It copies the few parts of a
//! request that decide anything into the core (`crate::service`), runs it with the runtime's
//! KV, fetch, cache and rate limiters (`runtime`, `transport`), and writes the answer out.

mod events;
mod r2;
mod runtime;
mod transport;
mod webhooks;

use worker::{
    console_error, console_log, console_warn, event, Context, Env, Headers, Request, Response, ResponseBuilder,
};

use crate::route::TOKEN_PATH;
use crate::service::reply::{Headers as ReplyHeaders, Reply};
use crate::service::request::{FormBody, Incoming, READ_HEADERS};
use crate::service::token_endpoint::MAX_FORM_BYTES;
use crate::service::{self, Isolate, LogLine};

use runtime::WorkerRuntime;

thread_local! {
    /// Caches that live as long as the isolate: configuration, upstream tokens, blocked addresses.
    static ISOLATE: &'static Isolate = Box::leak(Box::default());
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let upload = r2::upload_of(&req);
    let events_on = events::events_on(&env);
    let incoming = incoming(&mut req, events_on).await;
    let rt = WorkerRuntime { env: &env, upload, events_on };
    let handled = service::handle(&rt, ISOLATE.with(|i| *i), incoming).await;
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
async fn incoming(req: &mut Request, events_on: bool) -> Incoming {
    let url = req.url().ok();
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let [host, authorization, accept, if_none_match, range, client_ip, user_agent] =
        READ_HEADERS.map(|name| if name == "user-agent" && !events_on { None } else { header(name) });
    let (country, colo) = if events_on { events::cf_place(req.inner()) } else { (None, None) };
    let host = host
        .or_else(|| {
            let url = url.as_ref()?;
            let h = url.host_str()?;
            Some(url.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_default();
    let method = req.inner().method();
    let path = url.as_ref().map_or(String::new(), |u| u.path().to_string());
    let form = if method == "POST" && path == TOKEN_PATH { read_form(req).await } else { FormBody::Absent };
    Incoming {
        method,
        query: url.as_ref().and_then(|u| u.query().map(str::to_string)),
        scheme: url.as_ref().map_or("https".to_string(), |u| u.scheme().to_string()),
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

/// Reads at most `MAX_FORM_BYTES`: a larger announced length is refused unread, and a stream
/// that runs past the bound is abandoned there.
async fn read_form(req: &mut Request) -> FormBody {
    use futures_util::StreamExt as _;
    let announced = req.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return FormBody::TooLarge;
    }
    let Ok(mut stream) = req.stream() else { return FormBody::Absent };
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

fn headers_of(list: &ReplyHeaders) -> Headers {
    let headers = Headers::new();
    for (name, value) in list {
        // Values were checked for control characters; a refusal here would be a runtime quirk.
        if let Err(e) = headers.append(name, value) {
            console_error!("response header {name}: {e}");
        }
    }
    headers
}

fn write(reply: Reply<Response>, ctx: &Context) -> worker::Result<Response> {
    Ok(match reply {
        Reply::Fixed { status, headers, body } => {
            ResponseBuilder::new().with_status(status).with_headers(headers_of(&headers)).fixed(body)
        }
        Reply::Empty { status, headers } => {
            ResponseBuilder::new().with_status(status).with_headers(headers_of(&headers)).empty()
        }
        Reply::Relay { status, headers, body, fill_cache } => {
            let (_, stream) = body.into_parts();
            let mut client = ResponseBuilder::new().with_status(status).with_headers(headers_of(&headers)).body(stream);
            if let Some((key, ttl)) = fill_cache {
                runtime::store_blob(ctx, key, ttl, &mut client);
            }
            client
        }
    })
}
