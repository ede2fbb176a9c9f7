//! A blocking HTTP client for the diagnosis commands: any status is an answer, redirects are
//! never followed (callers decide, and drop credentials across hosts), bodies are bounded.

use std::io::Read;
use std::time::Duration;

use pullgate::upstream::Head;

/// An HTTP answer, whatever its status: the library's status and lowercased headers, and the body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub head: Head,
    pub body: Vec<u8>,
    /// The body was cut at the caller's limit.
    pub truncated: bool,
}

impl Answer {
    /// The first OCI error of the body as `CODE: message`, if it is an error envelope.
    pub fn registry_error(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let e = v.get("errors")?.get(0)?;
        let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("ERROR");
        let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
        Some(format!("{code}: {message}"))
    }

    /// The edge's machine code for the failure (`detail.reason`), if the body carries one.
    pub fn reason(&self) -> Option<pullgate::error::Reason> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        pullgate::error::Reason::parse(v.get("errors")?.get(0)?.get("detail")?.get("reason")?.as_str()?)
    }
}

/// Failures before any HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    Timeout,
    /// DNS, TLS or connection failure.
    Connect(String),
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Timeout => f.write_str("timed out"),
            NetError::Connect(detail) => f.write_str(detail),
        }
    }
}

pub fn agent() -> ureq::Agent {
    builder().build()
}

/// An agent for uploads: a chunk of up to the plan's body limit may take minutes on a slow link.
pub fn upload_agent() -> ureq::Agent {
    builder().timeout(Duration::from_secs(30 * 60)).build()
}

fn builder() -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("pullgate-cli/", env!("CARGO_PKG_VERSION")))
}

/// An agent that connects to `address` whenever a URL names `host` (like curl's --connect-to),
/// so a custom domain can be checked before its DNS exists; other hosts resolve normally.
pub fn agent_connecting(host: &str, address: std::net::SocketAddr) -> ureq::Agent {
    let host = host.to_ascii_lowercase();
    builder()
        .resolver(move |netloc: &str| -> std::io::Result<Vec<std::net::SocketAddr>> {
            let name = netloc.rsplit_once(':').map_or(netloc, |(h, _)| h).trim_matches(['[', ']']);
            if name.eq_ignore_ascii_case(&host) {
                Ok(vec![address])
            } else {
                std::net::ToSocketAddrs::to_socket_addrs(netloc).map(Iterator::collect)
            }
        })
        .build()
}

/// Sends one request; reads at most `limit` body bytes (none for HEAD).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    limit: usize,
) -> Result<Answer, NetError> {
    let mut request = agent.request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let result = match body {
        Some(bytes) => request.send_bytes(bytes),
        None => request.call(),
    };
    answer(method, result, limit)
}

/// Sends `length` bytes read from `body` with that `Content-Length` (never chunked framing: the
/// edge streams a body into R2 only when it knows its length).
pub fn send_stream(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Read,
    length: u64,
    limit: usize,
) -> Result<Answer, NetError> {
    let mut request = agent.request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let result = request.set("Content-Length", &length.to_string()).send(body.take(length));
    answer(method, result, limit)
}

fn answer(method: &str, result: Result<ureq::Response, ureq::Error>, limit: usize) -> Result<Answer, NetError> {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            let text = t.to_string();
            return Err(if text.to_ascii_lowercase().contains("timed out") {
                NetError::Timeout
            } else {
                NetError::Connect(text)
            });
        }
    };
    let status = response.status();
    let mut answer_headers = Vec::new();
    for name in response.headers_names() {
        for value in response.all(&name) {
            answer_headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    let mut bytes = Vec::new();
    let mut truncated = false;
    if method != "HEAD" {
        let read = response.into_reader().take(limit as u64 + 1).read_to_end(&mut bytes);
        if let Err(e) = read {
            return Err(NetError::Connect(format!("reading the answer: {e}")));
        }
        if bytes.len() > limit {
            bytes.truncate(limit);
            truncated = true;
        }
    }
    Ok(Answer { head: Head { status, headers: answer_headers }, body: bytes, truncated })
}
