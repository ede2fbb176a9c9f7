//! The only place a `RegistryError` becomes bytes on the wire: OCI JSON, the Bearer challenge on
//! the host the client used, `Retry-After`, and the headers every response carries.

use worker::{console_error, console_warn, Headers, Response, ResponseBuilder};

use crate::challenge;
use crate::error::{RegistryError, Source};
use crate::route::TOKEN_PATH;

/// Sent on every response; some clients require it (legacy Docker API version check).
pub const API_VERSION_HEADER: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");

/// Where the client is: the scheme and `Host` it used, for realms and `Link`s.
#[derive(Debug, Clone)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
}

impl Origin {
    pub fn realm(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, TOKEN_PATH)
    }

    /// The `WWW-Authenticate` value for a 401 on this host.
    pub fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        challenge::bearer(&self.realm(), &self.host, scope, error)
    }
}

pub fn json_headers() -> Headers {
    let h = Headers::new();
    let _ = h.set("content-type", "application/json");
    h
}

/// Turns an error into its response, logging what the client does not see.
pub fn error(e: &RegistryError, origin: &Origin) -> worker::Result<Response> {
    match e.source {
        Source::Internal => console_error!("{} {}", origin.host, e),
        Source::Upstream => console_warn!("{} {}", origin.host, e),
        Source::Downstream => {}
    }
    let headers = json_headers();
    if e.status == 401 {
        let hint = e.challenge.clone().unwrap_or_default();
        headers.set("www-authenticate", &origin.challenge(hint.scope.as_deref(), hint.error))?;
    }
    if let Some(seconds) = e.retry_after {
        headers.set("retry-after", &seconds.to_string())?;
    }
    Ok(ResponseBuilder::new().with_status(e.status).with_headers(headers).fixed(e.body().into_bytes()))
}
