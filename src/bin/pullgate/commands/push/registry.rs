//! The registry side of `pullgate push`: the token dance with the push token (Basic password at
//! the realm, bearer token after; redone once when the token lapses mid-push) and the OCI push
//! API requests. The push token goes only to the registry's own host.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use base64::Engine as _;

use super::super::http::{self, Answer};
use super::super::pull_check::{diagnose_at, token_url};
use crate::failure::{Exit, Failure, Outcome};

use pullgate::upstream::MAX_SMALL_BODY;

/// What a request sends.
pub enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    /// `length` bytes of a file from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        length: u64,
    },
}

pub struct Registry {
    agent: ureq::Agent,
    /// `scheme://host[:port]`
    pub base: String,
    pub name: String,
    push_token: String,
    bearer: Option<String>,
    /// Whether the registry answered `/v2/` without asking for credentials.
    anonymous: bool,
}

/// A failed step, with the registry's own words.
pub fn refused(step: &str, answer: &Answer) -> Failure {
    let (exit, detail) = diagnose_at(answer, false);
    Failure::with_exit(exit, format!("{step}: {detail}"))
}

fn network(step: &str, e: &http::NetError) -> Failure {
    Failure::with_exit(Exit::Network, format!("{step}: network: {e}"))
}

impl Registry {
    pub fn new(base: String, name: String, push_token: String) -> Registry {
        Registry { agent: http::upload_agent(), base, name, push_token, bearer: None, anonymous: false }
    }

    fn basic(&self) -> String {
        let pair = format!("pullgate-push:{}", self.push_token);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    /// `GET /v2/`, then the realm named by its challenge, for `pull,push` on the repository.
    pub fn login(&mut self) -> Outcome<()> {
        let v2 = format!("{}/v2/", self.base);
        let answer =
            http::send(&self.agent, "GET", &v2, &[], None, MAX_SMALL_BODY).map_err(|e| network("GET /v2/", &e))?;
        if answer.head.status == 200 {
            self.anonymous = true;
            return Ok(());
        }
        let challenges = pullgate::challenge::parse_all(answer.head.headers_named("www-authenticate"));
        let Some(challenge) = challenges.iter().find(|c| c.is_scheme("bearer") && c.param("realm").is_some()) else {
            return Err(refused("GET /v2/ (no Bearer challenge: is this a pullgate edge?)", &answer));
        };
        let realm = challenge.param("realm").unwrap_or_default();
        let url = token_url(&self.base, realm, challenge.param("service"), &self.name, &["pull", "push"]).ok_or_else(
            || {
                Failure::failed(format!(
                    "the token realm {realm} is not on {}; the push token is only sent there",
                    self.base
                ))
            },
        )?;
        let headers = [("Authorization".to_string(), self.basic())];
        let answer =
            http::send(&self.agent, "GET", &url, &headers, None, MAX_SMALL_BODY).map_err(|e| network("token", &e))?;
        if answer.head.status != 200 {
            let (exit, detail) = diagnose_at(&answer, true);
            return Err(Failure::with_exit(exit, format!("token: {detail}")));
        }
        let token = serde_json::from_slice::<serde_json::Value>(&answer.body).ok().and_then(|v| {
            v.get("token").or_else(|| v.get("access_token")).and_then(|t| t.as_str()).map(str::to_string)
        });
        self.bearer = Some(token.ok_or_else(|| Failure::failed("token: 200 without a token in the body"))?);
        Ok(())
    }

    /// A URL on the registry for `path` (absolute, or relative such as an upload's `Location`).
    pub fn url(&self, path: &str) -> Outcome<String> {
        let base =
            url::Url::parse(&self.base).map_err(|e| Failure::usage(format!("registry URL {}: {e}", self.base)))?;
        let url = base.join(path).map_err(|e| Failure::failed(format!("the registry's URL {path:?}: {e}")))?;
        if url.host_str() != base.host_str() || url.port_or_known_default() != base.port_or_known_default() {
            return Err(Failure::failed(format!("the registry sent the upload to another host ({url}); refused")));
        }
        Ok(url.to_string())
    }

    /// One request with the bearer token; a 401 (the token lapsed) logs in again and retries once.
    pub fn send(
        &mut self,
        step: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body,
    ) -> Outcome<Answer> {
        let answer = self.send_once(step, method, url, headers, body)?;
        if answer.head.status != 401 || self.anonymous {
            return Ok(answer);
        }
        self.login()?;
        self.send_once(step, method, url, headers, body)
    }

    fn send_once(&self, step: &str, method: &str, url: &str, headers: &[(&str, &str)], body: &Body) -> Outcome<Answer> {
        let mut all: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        if let Some(token) = &self.bearer {
            all.push(("Authorization".into(), format!("Bearer {token}")));
        }
        let result = match body {
            Body::None => http::send(&self.agent, method, url, &all, None, MAX_SMALL_BODY),
            Body::Bytes(bytes) => http::send(&self.agent, method, url, &all, Some(*bytes), MAX_SMALL_BODY),
            Body::File { path, offset, length } => {
                let mut file = File::open(path).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
                file.seek(SeekFrom::Start(*offset)).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
                http::send_stream(&self.agent, method, url, &all, file, *length, MAX_SMALL_BODY)
            }
        };
        result.map_err(|e| network(step, &e))
    }
}
