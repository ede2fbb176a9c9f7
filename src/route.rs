//! Request routing: (method, raw path) → what the client asked for, with every name, tag and
//! digest validated on the decoded path before anything else happens.

use percent_encoding::percent_decode_str;

use crate::reference::{Digest, Name, ParseError, Reference};

/// The token endpoint's path (the realm we advertise).
pub const TOKEN_PATH: &str = "/v2/token";

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2/`
    VersionCheck,
    /// `GET|POST /v2/token`
    Token,
    /// `GET|HEAD /v2/<name>/manifests/<reference>`
    Manifest { name: Name, reference: Reference },
    /// `GET|HEAD /v2/<name>/blobs/<digest>`
    Blob { name: Name, digest: Digest },
    /// `GET /v2/<name>/tags/list`
    Tags { name: Name },
    /// `GET /v2/<name>/referrers/<digest>`
    Referrers { name: Name, digest: Digest },
    /// The push API (uploads, manifest PUT, deletes): served for hosted repositories only.
    Push(crate::service::hosted::route::PushRoute),
    /// The hosted registry's admin channel for the CLI (`/_pullgate/hosted/<op>`).
    HostedAdmin(crate::service::hosted::admin::AdminRoute),
}

/// HTTP methods as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// Why a request does not route. `error.rs` maps each to its OCI error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Not an endpoint of the pull API.
    NoSuchEndpoint,
    /// A write verb: this registry is read-only.
    ReadOnly,
    /// Another verb the endpoint does not take.
    MethodNotAllowed,
    /// A path that cannot be decoded safely (the text says why).
    BadPath(&'static str),
    /// A name, tag or digest that breaks its grammar.
    Reference(ParseError),
}

impl From<ParseError> for RouteError {
    fn from(e: ParseError) -> Self {
        RouteError::Reference(e)
    }
}

fn not_found() -> RouteError {
    RouteError::NoSuchEndpoint
}

/// Routes a request. `raw_path` is the path as received (percent-encoded, no query).
pub fn parse(method: Method, raw_path: &str) -> Result<Route, RouteError> {
    let path = decode_path(raw_path)?;
    let reads = matches!(method, Method::Get | Method::Head);
    if path == "/v2" || path == "/v2/" {
        return if reads { Ok(Route::VersionCheck) } else { Err(method_error(method)) };
    }
    if path == TOKEN_PATH {
        return match method {
            Method::Get | Method::Post => Ok(Route::Token),
            _ => Err(method_error(method)),
        };
    }
    if let Some(op) = path.strip_prefix(crate::service::hosted::admin::ADMIN_PREFIX) {
        return crate::service::hosted::admin::parse(method, op).map(Route::HostedAdmin);
    }
    // `/v2` must end at a segment boundary: `/v2Xname/...` and `/v2\u{e9}` are not the API.
    let Some(rest) = path.strip_prefix("/v2/") else { return Err(not_found()) };
    // Writes (and upload status) belong to the push API, which only hosted repositories take.
    if let Some(push) = crate::service::hosted::route::parse(method, rest) {
        return push.map(Route::Push);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags { name: name.parse()? });
    }
    for (marker, kind) in [("/manifests/", 0), ("/blobs/", 1), ("/referrers/", 2)] {
        if let Some((name, tail)) = rest.rsplit_once(marker) {
            if tail.contains('/') {
                continue;
            }
            let name: Name = name.parse()?;
            return Ok(match kind {
                0 => Route::Manifest { name, reference: tail.parse()? },
                1 => Route::Blob { name, digest: tail.parse()? },
                _ if method == Method::Get => Route::Referrers { name, digest: tail.parse()? },
                _ => return Err(not_found()),
            });
        }
    }
    Err(not_found())
}

fn method_error(method: Method) -> RouteError {
    match method {
        Method::Put | Method::Patch | Method::Delete | Method::Post => RouteError::ReadOnly,
        _ => RouteError::MethodNotAllowed,
    }
}

/// Percent-decodes a path. An encoded `/` or `\` is refused: it would let a client smuggle a
/// path separator past name validation; so are encoded control characters, malformed escapes
/// and a decoded path that is not UTF-8.
fn decode_path(raw: &str) -> Result<String, RouteError> {
    let invalid = RouteError::BadPath;
    // Every `%` must start an escape of two hex digits: `percent-encoding` would keep a
    // malformed one literally, and a literal `%` is not part of any valid name anyway.
    for escape in raw.split('%').skip(1) {
        let hex = |b: u8| char::from(b).to_digit(16);
        let byte = match escape.as_bytes() {
            [high, low, ..] => hex(*high).zip(hex(*low)).and_then(|(h, l)| u8::try_from(h << 4 | l).ok()),
            _ => None,
        }
        .ok_or_else(|| invalid("malformed percent-encoding in path"))?;
        if byte == b'/' || byte == b'\\' || byte < 0x20 {
            return Err(invalid("encoded separators are not allowed in repository names"));
        }
    }
    percent_decode_str(raw).decode_utf8().map(|path| path.into_owned()).map_err(|_| invalid("path is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, RegistryError};

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn routes_good_requests() {
        let m = |s: &str| s.parse::<Name>().unwrap();
        for (method, path, want) in [
            (Method::Get, "/v2/", Route::VersionCheck),
            (Method::Get, "/v2", Route::VersionCheck),
            (Method::Head, "/v2/", Route::VersionCheck),
            (Method::Get, "/v2/token", Route::Token),
            (Method::Post, "/v2/token", Route::Token),
            (
                Method::Get,
                "/v2/proxy/a/local/x/manifests/1.0",
                Route::Manifest { name: m("proxy/a/local/x"), reference: "1.0".parse().unwrap() },
            ),
            (
                Method::Head,
                &format!("/v2/proxy/a/local/x/manifests/{D}"),
                Route::Manifest { name: m("proxy/a/local/x"), reference: D.parse().unwrap() },
            ),
            (
                Method::Get,
                &format!("/v2/local/x/blobs/{D}"),
                Route::Blob { name: m("local/x"), digest: D.parse().unwrap() },
            ),
            (Method::Get, "/v2/local/x/tags/list", Route::Tags { name: m("local/x") }),
            (
                Method::Get,
                &format!("/v2/local/x/referrers/{D}"),
                Route::Referrers { name: m("local/x"), digest: D.parse().unwrap() },
            ),
            // A repository may itself be called "manifests" or "blobs".
            (
                Method::Get,
                "/v2/local/blobs/manifests/latest",
                Route::Manifest { name: m("local/blobs"), reference: "latest".parse().unwrap() },
            ),
            (
                Method::Get,
                "/v2/local/%61pp/manifests/1.0",
                Route::Manifest { name: m("local/app"), reference: "1.0".parse().unwrap() },
            ),
        ] {
            assert_eq!(parse(method, path), Ok(want), "{method:?} {path}");
        }
    }

    #[test]
    fn refuses_bad_requests() {
        for (method, path, status, code) in [
            (Method::Get, "/", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v3/", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2/local/x", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2/local/x/manifests/", 404, ErrorCode::ManifestUnknown),
            (Method::Get, "/v2/local/X/manifests/1.0", 400, ErrorCode::NameInvalid),
            (Method::Get, "/v2/local/../x/manifests/1.0", 400, ErrorCode::NameInvalid),
            (Method::Get, "/v2/local/%2e%2e/x/manifests/1.0", 400, ErrorCode::NameInvalid),
            (Method::Get, "/v2/local%2Fx/manifests/1.0", 400, ErrorCode::NameInvalid),
            (Method::Get, "/v2/local/x/manifests/1.0%0d%0a", 400, ErrorCode::NameInvalid),
            (Method::Get, "/v2/local/x/manifests/%zz", 400, ErrorCode::NameInvalid),
            (Method::Get, "/v2/local/x/blobs/sha256:abc", 400, ErrorCode::DigestInvalid),
            (Method::Get, "/v2/local/x/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, ErrorCode::DigestInvalid),
            (Method::Get, "/v2/local/x/blobs/uploads/", 404, ErrorCode::NameUnknown),
            (Method::Put, "/v2/local/x/tags/list", 404, ErrorCode::NameUnknown),
            (Method::Post, "/v2/local/x/manifests/1.0", 405, ErrorCode::Unsupported),
            (Method::Put, "/v2/token", 405, ErrorCode::Unsupported),
            (Method::Post, "/v2/", 405, ErrorCode::Unsupported),
            (Method::Head, &format!("/v2/local/x/referrers/{D}"), 404, ErrorCode::NameUnknown),
        ] {
            let e = RegistryError::from(parse(method, path).unwrap_err());
            assert_eq!((e.status, e.code), (status, code), "{method:?} {path}: {}", e.message);
        }
    }

    /// Issue 8: a multi-byte character right after `/v2` used to slice inside the character
    /// (a trap in the Worker), and any other character after `/v2` was taken as the `/`.
    #[test]
    fn takes_v2_only_as_a_whole_segment() {
        for (method, path, status, code) in [
            (Method::Get, "/v2%C3%A9", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2%C3%A9/", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2\u{e9}", 404, ErrorCode::NameUnknown),
            (Method::Head, "/v2\u{1f600}/local/x/manifests/1.0", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2%E2%82%AClocal/x/manifests/1.0", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2Xproxy/a/local/x/manifests/1.0", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2Xlocal/x/tags/list", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2X", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v2token", 404, ErrorCode::NameUnknown),
            (Method::Get, "/v22/", 404, ErrorCode::NameUnknown),
            (Method::Post, "/v2Xtoken", 404, ErrorCode::NameUnknown),
            (Method::Put, "/v2Xlocal/x/manifests/1.0", 404, ErrorCode::NameUnknown),
        ] {
            let e = RegistryError::from(parse(method, path).unwrap_err());
            assert_eq!((e.status, e.code), (status, code), "{method:?} {path}: {}", e.message);
        }
    }

    #[test]
    fn decodes_paths_and_refuses_bad_encodings() {
        let tag = |t: &str| Route::Manifest { name: "local/x".parse().unwrap(), reference: t.parse().unwrap() };
        for (path, want) in [
            ("/v2/local/x/manifests/v%31", Ok(tag("v1"))),
            ("/v2/local/x/manifests/v%2e1", Ok(tag("v.1"))),
            ("/v2%2F", Err("encoded separators are not allowed in repository names")),
            ("/v2/local%5cx/manifests/1", Err("encoded separators are not allowed in repository names")),
            ("/v2/local/x/manifests/1%00", Err("encoded separators are not allowed in repository names")),
            ("/v2/local/x/manifests/%", Err("malformed percent-encoding in path")),
            ("/v2/local/x/manifests/%4", Err("malformed percent-encoding in path")),
            ("/v2/local/x/manifests/%+f", Err("malformed percent-encoding in path")),
            ("/v2/local/x/manifests/%\u{e9}", Err("malformed percent-encoding in path")),
            ("/v2%ff", Err("path is not valid UTF-8")),
            ("/v2/local/x/manifests/%C3", Err("path is not valid UTF-8")),
        ] {
            let got = parse(Method::Get, path).map_err(|e| RegistryError::from(e).message);
            assert_eq!(got, want.map_err(str::to_string), "{path}");
        }
        let e = RegistryError::from(parse(Method::Get, "/v2/local/caf%C3%A9/manifests/1").unwrap_err());
        assert_eq!((e.status, e.code), (400, ErrorCode::NameInvalid), "{}", e.message);
    }
}
