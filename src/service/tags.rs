//! `GET /v2/<name>/tags/list?n=&last=`: the upstream's list under the client's name, paged here
//! when the upstream does not page (distribution 2.8 ignores `n` and `last`).

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::reference::Tag;
use crate::upstream::{self, Resource, UpstreamError};

use super::pull::Pull;
use super::reply::{set_header, Reply};
use super::request::{BadRequest, Incoming};
use super::Runtime;

/// Largest `n` honoured on a tag list (distribution's CVE-2023-2253 lesson).
pub const MAX_TAGS_PAGE: usize = 10_000;
/// Largest tag list read from an upstream.
const MAX_TAG_LIST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct UpstreamTags {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: Vec<String>,
}

/// A tag list's `n` (at most `MAX_TAGS_PAGE`) and `last` query parameters.
pub(crate) fn page_params(request: &Incoming) -> Result<(Option<usize>, Option<Tag>), BadRequest> {
    let n = match request.query_value("n") {
        None => None,
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_TAGS_PAGE)
                .ok_or(BadRequest::PageSize { max: MAX_TAGS_PAGE })?,
        ),
    };
    let last = match request.query_value("last") {
        None => None,
        Some(v) => Some(v.parse::<Tag>().map_err(BadRequest::LastTag)?),
    };
    Ok((n, last))
}

pub async fn tags<R: Runtime>(pull: Pull<'_, '_, R>) -> Result<Reply<R::Body>, RegistryError> {
    let (n, last) = page_params(&pull.cx.request)?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(n) = n {
        query.append_pair("n", &n.to_string());
    }
    if let Some(last) = &last {
        query.append_pair("last", last.as_str());
    }
    let query = query.finish();
    let tail = if query.is_empty() { "tags/list".to_string() } else { format!("tags/list?{query}") };
    let (head, body) =
        pull.send(upstream::Request::new("GET", pull.url(&tail)).header("accept", "application/json")).await?;
    if let Some(e) = upstream::classify(Resource::Tags, &head, &pull.upstream(), pull.name.as_str()) {
        return Err(e.into());
    }
    let malformed = |what| UpstreamError::Malformed { upstream: pull.upstream().describe(), what };
    let bytes = pull
        .cx
        .rt
        .read(body, MAX_TAG_LIST_BYTES)
        .await
        .map_err(|_| malformed("a tag list over 4 MiB, or unreadable"))?;
    let listed: UpstreamTags = serde_json::from_slice(&bytes).map_err(|_| malformed("a tag list that is not JSON"))?;
    let name = pull.name.as_str();
    let (tags, link) = match head.header("link").and_then(|l| upstream::rewrite_tags_link(l, name)) {
        // The upstream paged: its page and its next link, under our name.
        Some(link) => (listed.tags.unwrap_or_default(), Some(link)),
        None => {
            let (page, next) = upstream::page_tags(listed.tags.unwrap_or_default(), n, last.as_ref().map(Tag::as_str));
            let link = next.map(|last| {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("n", &n.unwrap_or(page.len()).to_string())
                    .append_pair("last", &last)
                    .finish();
                format!("</v2/{name}/tags/list?{q}>; rel=\"next\"")
            });
            (page, link)
        }
    };
    let body =
        serde_json::to_vec(&TagList { name, tags }).map_err(|e| RegistryError::internal(format!("tags json: {e}")))?;
    let mut reply = Reply::json(200, body);
    if let Some(link) = link {
        set_header(reply.headers_mut(), "link", link);
    }
    Ok(reply)
}
