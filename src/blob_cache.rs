//! Which streamed blobs the edge keeps in the Cloudflare cache, and under which key.
//!
//! Only stream mode needs it (in redirect mode the bytes never pass through the Worker). Blobs
//! are content-addressed and immutable, so a copy never goes stale; the lookup happens only
//! after the request was authorized for that repository (security.md T9), and the key names
//! the app, the upstream and the repository as well as the digest, so no grant reaches content
//! through another app's or repository's entry.

use url::Url;

/// The Cache API stores objects up to 512 MB; larger blobs are streamed uncached.
pub const MAX_CACHED_BYTES: u64 = 512 * 1024 * 1024;

/// The key, on the request's own host (the Cache API is per zone) under a path no client
/// route can reach: registry routes all start with `/v2/`.
pub fn key(host: &str, app: &str, upstream_endpoint: &str, upstream_repo: &str, digest: &str) -> Option<String> {
    let upstream = Url::parse(upstream_endpoint).ok()?;
    let upstream = match upstream.port() {
        Some(port) => format!("{}:{port}", upstream.host_str()?),
        None => upstream.host_str()?.to_string(),
    };
    let url = Url::parse(&format!("https://{host}/")).ok()?;
    let mut url = url.join("/.pullgate-blob-cache/").ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().extend([app, &upstream]).extend(upstream_repo.split('/')).push(digest);
    Some(url.to_string())
}

/// Whether an upstream answer may be stored: a whole blob (200, not a range) whose length is
/// known and within the cache's limit.
pub fn storable(status: u16, content_length: Option<u64>, requested_range: bool) -> bool {
    status == 200 && !requested_range && content_length.is_some_and(|n| n > 0 && n <= MAX_CACHED_BYTES)
}

/// `Cache-Control` of the stored copy: the entry lives `ttl` seconds. Clients never see it.
pub fn stored_cache_control(ttl: i64) -> String {
    format!("public, max-age={ttl}, immutable")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn keys_name_host_app_upstream_repo_and_digest() {
        let cases = [
            (
                ("images.acme.com", "acme", "https://ghcr.io", "org/app"),
                Some(format!("https://images.acme.com/.pullgate-blob-cache/acme/ghcr.io/org/app/{DIGEST}")),
            ),
            (
                ("127.0.0.1:18700", "demo", "http://127.0.0.1:18706", "demo/big"),
                Some(format!("https://127.0.0.1:18700/.pullgate-blob-cache/demo/127.0.0.1:18706/demo/big/{DIGEST}")),
            ),
            (("images.acme.com", "acme", "not a url", "org/app"), None),
            (("bad host/", "acme", "https://ghcr.io", "org/app"), None),
        ];
        for ((host, app, endpoint, repo), want) in cases {
            assert_eq!(key(host, app, endpoint, repo, DIGEST), want, "{host} {endpoint}");
        }
        // Each part keeps entries apart.
        let base = key("h", "a", "https://r.io", "x/y", DIGEST);
        for other in [
            key("h", "b", "https://r.io", "x/y", DIGEST),
            key("h", "a", "https://s.io", "x/y", DIGEST),
            key("h", "a", "https://r.io", "x/z", DIGEST),
            key("g", "a", "https://r.io", "x/y", DIGEST),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn only_whole_known_length_blobs_are_stored() {
        for (status, length, range, want) in [
            (200, Some(10), false, true),
            (200, Some(MAX_CACHED_BYTES), false, true),
            (200, Some(MAX_CACHED_BYTES + 1), false, false),
            (200, None, false, false),
            (200, Some(0), false, false),
            (206, Some(10), true, false),
            (200, Some(10), true, false),
            (404, Some(10), false, false),
        ] {
            assert_eq!(storable(status, length, range), want, "{status} {length:?} {range}");
        }
    }

    #[test]
    fn the_stored_copy_lives_ttl_seconds() {
        assert_eq!(stored_cache_control(86_400), "public, max-age=86400, immutable");
    }
}
