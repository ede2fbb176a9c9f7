//! Reads and writes of headers in one boundary crossing each (`boundary.js`, format in
//! `crate::header_lines`), where the generated bindings cross once per header.

use std::cell::OnceCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{console_error, js_sys, wasm_bindgen_futures, web_sys};

use crate::upstream::TransportError;
use crate::{events, header_lines};

#[wasm_bindgen(module = "/src/edge/boundary.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = requestParts)]
    fn request_parts(request: &web_sys::Request, names: &JsValue, with_place: bool) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = headerValues)]
    fn header_values(headers: &web_sys::Headers, names: &JsValue) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = headersFrom)]
    fn headers_from(text: &str) -> Result<web_sys::Headers, JsValue>;
    #[wasm_bindgen(js_name = fetchWithin)]
    fn fetch_within_js(
        url: &str,
        method: &str,
        header_text: &str,
        body: Option<js_sys::Uint8Array>,
        ms: f64,
    ) -> js_sys::Promise;
    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_js(status: u16, header_text: &str, body: &JsValue) -> Result<web_sys::Response, JsValue>;
    #[wasm_bindgen(js_name = limitWith)]
    fn limit_with(env: &JsValue, binding: &str, key: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = sendTexts)]
    fn send_texts_js(env: &JsValue, binding: &str, text: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = nameList)]
    fn name_list(text: &str) -> JsValue;
}

/// A list of header names made into a JS array once per isolate.
pub struct Names {
    names: &'static [&'static str],
    list: OnceCell<JsValue>,
}

impl Names {
    pub const fn new(names: &'static [&'static str]) -> Self {
        Names { names, list: OnceCell::new() }
    }

    fn list(&self) -> &JsValue {
        self.list.get_or_init(|| name_list(&self.names.join("\n")))
    }
}

/// A client's request as read in one crossing.
pub struct RequestParts {
    pub method: String,
    pub url: String,
    /// In the order of the names asked for.
    pub headers: Vec<Option<String>>,
    /// Country and Cloudflare location, when asked for (`events::request_place`).
    pub place: (Option<String>, Option<String>),
}

/// The method, URL and `names` headers of `request`, and its place when `with_place`.
pub fn read_request(request: &web_sys::Request, names: &Names, with_place: bool) -> RequestParts {
    let text = request_parts(request, names.list(), with_place).unwrap_or_else(|e| {
        console_error!("reading the request: {e:?}");
        String::new()
    });
    let mut values = header_lines::values(&text).map(|v| v.map(str::to_string));
    let mut next = || values.next().flatten();
    let method = next().unwrap_or_default();
    let url = next().unwrap_or_default();
    let headers = names.names.iter().map(|_| next()).collect();
    let place = if with_place { events::request_place(next(), next(), next(), next()) } else { (None, None) };
    RequestParts { method, url, headers, place }
}

/// The `names` headers of `headers`, in order, each present one with its value.
pub fn read_headers(headers: &web_sys::Headers, names: &Names) -> Vec<(String, String)> {
    let text = header_values(headers, names.list()).unwrap_or_else(|e| {
        console_error!("reading headers: {e:?}");
        String::new()
    });
    names
        .names
        .iter()
        .zip(header_lines::values(&text))
        .filter_map(|(name, value)| Some((name.to_string(), value?.to_string())))
        .collect()
}

/// `fetch(url)` with `pairs` as its headers and redirects not followed, given up (and aborted)
/// when its response headers take longer than `limit`.
pub async fn fetch_within<'a>(
    url: &str,
    method: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: Option<&[u8]>,
    limit: std::time::Duration,
) -> Result<worker::Response, TransportError> {
    let body = body.map(js_sys::Uint8Array::from);
    let promise = fetch_within_js(url, method, &header_lines::encode(pairs), body, limit.as_millis() as f64);
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(value) => match value.dyn_into::<web_sys::Response>() {
            Ok(resp) => Ok(resp.into()),
            Err(other) => Err(TransportError::Connect(format!("fetch gave {other:?}"))),
        },
        Err(e) => {
            let name = js_sys::Reflect::get(&e, &JsValue::from_str("name")).ok().and_then(|n| n.as_string());
            if name.as_deref() == Some("TimeoutError") {
                return Err(TransportError::Timeout);
            }
            Err(TransportError::Connect(message_of(&e)))
        }
    }
}

/// The response to the client, built in one crossing; `body` is a `Uint8Array`, a
/// `ReadableStream` or `undefined`.
pub fn respond<'a>(
    status: u16,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &JsValue,
) -> worker::Result<web_sys::Response> {
    respond_js(status, &header_lines::encode(pairs), body).map_err(worker::Error::from)
}

/// One count of `key` against the Rate Limiting binding `binding`: within the limit or not, or
/// why the binding could not answer.
pub async fn within_limit(env: &worker::Env, binding: &str, key: &str) -> Result<bool, String> {
    match wasm_bindgen_futures::JsFuture::from(limit_with(env.as_ref(), binding, key)).await {
        Ok(within) => Ok(within.as_bool() == Some(true)),
        Err(e) => Err(message_of(&e)),
    }
}

/// One `sendBatch` of `messages` (each free of line breaks) to the Queue binding `binding`.
pub async fn send_texts(env: &worker::Env, binding: &str, messages: &[String]) -> Result<(), String> {
    let promise = send_texts_js(env.as_ref(), binding, &messages.join("\n"));
    wasm_bindgen_futures::JsFuture::from(promise).await.map(drop).map_err(|e| message_of(&e))
}

/// A thrown JS value as text: an `Error`'s message, anything else debug-printed.
fn message_of(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_else(|| format!("{e:?}"))
}

/// A Headers object holding `pairs`.
pub fn headers<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> worker::Headers {
    match headers_from(&header_lines::encode(pairs)) {
        Ok(h) => worker::Headers(h),
        Err(e) => {
            console_error!("writing headers: {e:?}");
            worker::Headers::new()
        }
    }
}
