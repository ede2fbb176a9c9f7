//! pullgate: an authenticating proxy registry; pure protocol modules plus the Worker glue in `edge`.
//!
//! A request flows: `route` (method + path) → host lookup (`store`) → client auth (`license`,
//! `token`) → name resolution (`access`) → upstream fetch plan (`upstream`) → response, with
//! every failure becoming a `error::RegistryError`. Only `edge` touches the Workers runtime.

pub mod access;
pub mod access_log;
pub mod blob_cache;
pub mod challenge;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod license;
pub mod pattern;
pub mod reference;
pub mod route;
pub mod scope;
pub mod sigv4;
pub mod store;
pub mod throttle;
pub mod time;
pub mod token;
pub mod upstream;

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(target_arch = "wasm32")]
mod edge;
