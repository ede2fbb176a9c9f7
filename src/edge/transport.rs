//! The upstream transport on Workers: `fetch` with redirects never followed, a
//! header timeout, and bounded reads of small bodies.

use std::time::Duration;

use futures_util::StreamExt;
use wasm_bindgen::JsValue;
use worker::{Response, ResponseBody};

use crate::upstream::{Head, Request, Transport, TransportError, READ_HEADERS};

use super::boundary::{self, Names};
use super::runtime::WorkerRuntime;

/// How long an upstream may take to send response headers. containerd gives up after 30 s,
/// so an answer after that would reach nobody.
const HEADER_TIMEOUT: Duration = Duration::from_secs(25);

pub(super) fn now_unix() -> i64 {
    // The static `Date.now()`: `worker::Date::now` makes a `Date` object first.
    (js_sys::Date::now() / 1000.0) as i64
}

/// Status and the headers anything reads (`upstream::READ_HEADERS`) of a fetched response.
pub fn head_of(resp: &Response) -> Head {
    thread_local! {
        static NAMES: Names = const { Names::new(&READ_HEADERS) };
    }
    Head { status: resp.status_code(), headers: NAMES.with(|names| boundary::read_headers(&resp.headers().0, names)) }
}

impl Transport for WorkerRuntime<'_> {
    type Body = Response;

    async fn send(&self, req: Request) -> Result<(Head, Response), TransportError> {
        let headers = req.headers.iter().map(|(name, value)| (name.as_str(), value.as_str()));
        let resp = boundary::fetch_within(&req.url, req.method, headers, req.body.as_deref(), HEADER_TIMEOUT).await?;
        Ok((head_of(&resp), resp))
    }

    async fn read(&self, mut body: Response, limit: usize) -> Result<Vec<u8>, TransportError> {
        let length = body.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
        if length.is_some_and(|n| n > limit as u64) {
            return Err(TransportError::TooLarge);
        }
        let connect = |e: worker::Error| TransportError::Connect(e.to_string());
        let bytes = match (length, body.body()) {
            // A known length within the limit: the runtime reads it whole in one call, not chunk
            // by chunk through a reader (getReader, read, releaseLock: ~11% of a manifest
            // request's CPU in a profile).
            (Some(_), ResponseBody::Stream(stream)) => whole(stream).await.map_err(connect)?,
            (None, ResponseBody::Stream(_)) => {
                let mut chunks = body.stream().map_err(connect)?;
                let mut bytes = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    bytes.extend(chunk.map_err(connect)?);
                    if bytes.len() > limit {
                        return Err(TransportError::TooLarge);
                    }
                }
                bytes
            }
            (_, ResponseBody::Body(b)) => b.clone(),
            (_, ResponseBody::Empty) => Vec::new(),
        };
        if bytes.len() > limit {
            return Err(TransportError::TooLarge);
        }
        Ok(bytes)
    }

    fn now(&self) -> i64 {
        now_unix()
    }
}

/// A body stream read whole by the runtime (`new Response(stream).arrayBuffer()`).
pub(super) async fn whole(stream: &worker::web_sys::ReadableStream) -> Result<Vec<u8>, worker::Error> {
    let response =
        worker::web_sys::Response::new_with_opt_readable_stream(Some(stream)).map_err(worker::Error::from)?;
    let buffer: JsValue =
        worker::wasm_bindgen_futures::JsFuture::from(response.array_buffer().map_err(worker::Error::from)?).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
