//! pullgate: an authenticating proxy registry; the edge's decisions in plain Rust (`service`, over
//! the protocol modules) plus the thin Worker shell in `edge`.
//!
//! A request flows: `route` (method + path) → host binding (`service::auth`, `store`) → client
//! auth (`license`, `token`) → name resolution (`access`) → upstream call (`upstream`) → a
//! `service::reply::Reply`, with every failure becoming an `error::RegistryError` in `error.rs`.
//! Only `edge` touches the Workers runtime; `cargo test` drives `service` natively.

pub mod access;
pub mod access_log;
pub mod blob_cache;
pub mod blob_sizes;
pub mod challenge;
pub mod envelope;
pub mod error;
pub mod event_batch;
pub mod events;
pub mod header_lines;
pub mod keys;
pub mod license;
pub mod manifest;
pub mod pattern;
pub mod push_token;
pub mod reference;
pub mod route;
pub mod scope;
pub mod service;
pub mod sigv4;
pub mod store;
pub mod throttle;
pub mod time;
pub mod token;
pub mod upstream;
pub mod user_agent;
pub mod webhook;

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(target_arch = "wasm32")]
mod edge;
