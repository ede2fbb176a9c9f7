//! AWS Signature Version 4 in header and presigned-query form, pure and clock-free; we use it to
//! call ECR `GetAuthorizationToken` (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html>).
//!
//! ```text
//! CanonicalRequest = Method "\n" CanonicalURI "\n" CanonicalQuery "\n"
//!                    CanonicalHeaders "\n" SignedHeaders "\n" Hex(SHA256(body))
//! StringToSign     = "AWS4-HMAC-SHA256" "\n" AmzDate "\n" Scope "\n" Hex(SHA256(CanonicalRequest))
//! Scope            = Date "/" region "/" service "/aws4_request"
//! kDate            = HMAC("AWS4" + secret, Date)
//! kRegion          = HMAC(kDate, region)
//! kService         = HMAC(kRegion, service)
//! kSigning         = HMAC(kService, "aws4_request")
//! Signature        = Hex(HMAC(kSigning, StringToSign))
//! ```
//!
//! Each stage is a public function so it can be checked against the AWS test suite
//! (`tests/sigv4_vectors.rs`) one step at a time.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::reference::echo;

/// The only algorithm this module implements.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Longest lifetime AWS accepts for a presigned URL: seven days, in seconds.
pub const MAX_EXPIRES_IN: u64 = 604_800;

/// Headers never signed: hop-by-hop ones a proxy may rewrite, `user-agent` and
/// `x-amzn-trace-id` (rewritten by infrastructure), and `authorization`, which the
/// signature itself goes into. This is the AWS Common Runtime's list.
const UNSIGNED_HEADERS: [&str; 9] = [
    "authorization",
    "connection",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "sec-websocket-version",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The method is empty or not an HTTP token.
    InvalidMethod,
    /// The URI is not an origin-form request target (`/path?query`), or holds control characters.
    InvalidUri,
    /// A header name is empty or not an HTTP token (escaped for display).
    InvalidHeaderName(String),
    /// A header value holds a control character or a line break that is not a fold.
    /// Only the name is kept: the value may be a secret.
    InvalidHeaderValue {
        /// The header's name, escaped for display.
        name: String,
    },
    /// No `Host` header; it is always signed, so it must be in the request.
    MissingHost,
    /// The region is empty or not `[A-Za-z0-9._-]+`.
    InvalidRegion,
    /// The service name is empty or not `[A-Za-z0-9._-]+`.
    InvalidService,
    /// The access key id is empty or holds whitespace, `/` or `,`.
    InvalidAccessKeyId,
    /// The session token is empty or not visible ASCII.
    InvalidSessionToken,
    /// The time is outside years 0000–9999 and cannot be written as an AWS date.
    TimeOutOfRange(i64),
    /// A presigned URL lifetime outside 1..=[`MAX_EXPIRES_IN`] seconds.
    ExpiresOutOfRange(u64),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMethod => f.write_str("request method is not a valid http token"),
            Self::InvalidUri => f.write_str("request uri must be /path[?query] without control characters"),
            Self::InvalidHeaderName(name) => {
                write!(f, "header name \"{name}\" is not a valid http token")
            }
            Self::InvalidHeaderValue { name } => {
                write!(f, "header \"{name}\" has a control character or a bare line break in its value")
            }
            Self::MissingHost => f.write_str("request has no host header to sign"),
            Self::InvalidRegion => f.write_str("region must match [A-Za-z0-9._-]+"),
            Self::InvalidService => f.write_str("service name must match [A-Za-z0-9._-]+"),
            Self::InvalidAccessKeyId => f.write_str("access key id must be visible ascii without '/' or ','"),
            Self::InvalidSessionToken => f.write_str("session token must be visible ascii"),
            Self::TimeOutOfRange(t) => write!(f, "time {t} is outside years 0000-9999"),
            Self::ExpiresOutOfRange(s) => {
                write!(f, "presigned url lifetime {s}s is outside 1..={MAX_EXPIRES_IN}s")
            }
        }
    }
}

impl std::error::Error for SignError {}

/// AWS credentials. `Debug` prints the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id, e.g. `AKIDEXAMPLE`; it appears in every signed request.
    pub access_key_id: String,
    /// The secret access key; only ever fed to HMAC.
    pub secret_access_key: String,
    /// The STS session token for temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Signing options. The defaults suit every AWS service except S3, ECR included.
/// The field comments name the matching key of the AWS test suite's `context.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Remove `.`/`..` and empty segments from the path before encoding (`normalize`).
    /// Turn off for S3, where `a//b` and `a/b` are different keys.
    pub normalize_path: bool,
    /// Treat the path as already percent-encoded and encode it once more, as every service
    /// but S3 expects. When off, the path is decoded and encoded exactly once.
    pub double_encode_path: bool,
    /// Leave the session token out of the signature and add it after signing
    /// (`omit_session_token`); a few services (IoT) require this.
    pub omit_session_token: bool,
    /// Add and sign `x-amz-content-sha256` in header signing (`sign_body`); S3 requires it.
    pub content_sha256_header: bool,
    /// Lifetime of a presigned URL in seconds (`expiration_in_seconds`); header signing
    /// ignores it.
    pub expires_in: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            normalize_path: true,
            double_encode_path: true,
            omit_session_token: false,
            content_sha256_header: false,
            expires_in: 900,
        }
    }
}

/// Who signs, for which region and service, and when.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// The signing credentials.
    pub credentials: &'a Credentials,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The signing name of the service, e.g. `ecr`.
    pub service: &'a str,
    /// Signing time in unix seconds. Passed in, never read from a clock, so signing is
    /// deterministic and testable; pass the current time in production.
    pub time_unix: i64,
    /// Options.
    pub settings: Settings,
}

/// The request to sign, as it will go on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct SignableRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target in origin form, exactly as in the request line: `/path?query`.
    pub uri: String,
    /// The headers in order, including `Host` (which a Worker's `fetch` derives from the
    /// URL, but which is always signed and so must be given here).
    pub headers: Vec<(String, String)>,
    /// The body; its SHA-256 goes into the signature.
    pub body: Vec<u8>,
}

impl fmt::Debug for SignableRequest {
    // Header values and the body can carry secrets; names and sizes are enough to debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Where the signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLocation {
    /// An `Authorization` header plus `X-Amz-Date` (and friends).
    Headers,
    /// `X-Amz-*` query parameters: a presigned URL.
    Query,
}

/// Result of header signing.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// The hex signature.
    pub signature: String,
    /// Headers to set on the request, in this order, each replacing any header of the same
    /// name (compared case-insensitively): `X-Amz-Security-Token` (with a session token),
    /// `X-Amz-Date`, `x-amz-content-sha256` (when enabled) and `Authorization`.
    pub headers: Vec<(&'static str, String)>,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Signed").field("signature", &"<redacted>").field("header_names", &names).finish()
    }
}

/// Result of query signing.
#[derive(Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The hex signature.
    pub signature: String,
    /// The request's `uri` with the signing parameters appended to its query, in the
    /// order `X-Amz-Algorithm`, `-Credential`, `-Date`, `-SignedHeaders`, `-Expires`,
    /// `-Security-Token` (with a session token) and `-Signature`.
    pub uri: String,
}

impl fmt::Debug for Presigned {
    // The query is a bearer credential until it expires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.uri.split('?').next().unwrap_or_default();
        f.debug_struct("Presigned").field("signature", &"<redacted>").field("path", &path).finish()
    }
}

/// Formats unix seconds as an AWS timestamp, `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(time_unix: i64) -> Result<String, SignError> {
    let (year, month, day) = civil_from_days(time_unix.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return Err(SignError::TimeOutOfRange(time_unix));
    }
    let secs = time_unix.rem_euclid(86_400);
    Ok(format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The canonical request for `location`, the first stage of signing.
pub fn canonical_request(
    req: &SignableRequest,
    params: &SigningParams<'_>,
    location: SignatureLocation,
) -> Result<String, SignError> {
    Ok(prepare(req, params, location)?.canonical_request)
}

/// The string to sign for a canonical request.
pub fn string_to_sign(canonical_request: &str, params: &SigningParams<'_>) -> Result<String, SignError> {
    let (amz_date, scope) = scope(params)?;
    Ok(format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes())))
}

/// The hex signature of a string to sign.
pub fn signature(string_to_sign: &str, params: &SigningParams<'_>) -> Result<String, SignError> {
    let (amz_date, _) = scope(params)?;
    let date = amz_date.get(..8).unwrap_or_default();
    let key = signing_key(&params.credentials.secret_access_key, date, params.region, params.service);
    Ok(hex(&hmac_sha256(&key, string_to_sign.as_bytes())))
}

/// Signs `req` with an `Authorization` header; returns the headers to set.
///
/// ```
/// use pullgate::sigv4::{sign, Credentials, Settings, SignableRequest, SigningParams};
/// let creds = Credentials {
///     access_key_id: "AKIDEXAMPLE".into(),
///     secret_access_key: "example-secret".into(),
///     session_token: None,
/// };
/// let params = SigningParams {
///     credentials: &creds,
///     region: "us-east-1",
///     service: "ecr",
///     time_unix: 1_700_000_000,
///     settings: Settings::default(),
/// };
/// let target = "AmazonEC2ContainerRegistry_V20151121.GetAuthorizationToken";
/// let req = SignableRequest {
///     method: "POST".into(),
///     uri: "/".into(),
///     headers: vec![
///         ("Host".into(), "api.ecr.us-east-1.amazonaws.com".into()),
///         ("Content-Type".into(), "application/x-amz-json-1.1".into()),
///         ("X-Amz-Target".into(), target.into()),
///     ],
///     body: b"{}".to_vec(),
/// };
/// let signed = sign(&req, &params)?;
/// assert_eq!(signed.headers[0], ("X-Amz-Date", "20231114T221320Z".to_owned()));
/// assert_eq!(signed.headers[1].0, "Authorization");
/// # Ok::<(), pullgate::sigv4::SignError>(())
/// ```
pub fn sign(req: &SignableRequest, params: &SigningParams<'_>) -> Result<Signed, SignError> {
    let prepared = prepare(req, params, SignatureLocation::Headers)?;
    let signature = signature(&string_to_sign(&prepared.canonical_request, params)?, params)?;
    let mut headers = Vec::with_capacity(4);
    if let Some(token) = &params.credentials.session_token {
        headers.push(("X-Amz-Security-Token", token.clone()));
    }
    headers.push(("X-Amz-Date", prepared.amz_date));
    if params.settings.content_sha256_header {
        headers.push(("x-amz-content-sha256", prepared.payload_hash));
    }
    headers.push((
        "Authorization",
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
            params.credentials.access_key_id, prepared.scope, prepared.signed_headers
        ),
    ));
    Ok(Signed { signature, headers })
}

/// Signs `req` as a presigned URL valid for `settings.expires_in` seconds; returns the URI
/// with the signing query parameters appended.
pub fn presign(req: &SignableRequest, params: &SigningParams<'_>) -> Result<Presigned, SignError> {
    let prepared = prepare(req, params, SignatureLocation::Query)?;
    let signature = signature(&string_to_sign(&prepared.canonical_request, params)?, params)?;
    let credential = format!("{}/{}", params.credentials.access_key_id, prepared.scope);
    let expires = params.settings.expires_in.to_string();
    let mut added: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &prepared.amz_date),
        ("X-Amz-SignedHeaders", &prepared.signed_headers),
        ("X-Amz-Expires", &expires),
    ];
    if let Some(token) = &params.credentials.session_token {
        added.push(("X-Amz-Security-Token", token));
    }
    added.push(("X-Amz-Signature", &signature));

    let mut uri = req.uri.clone();
    match uri.find('?') {
        None => uri.push('?'),
        Some(at) if at + 1 < uri.len() => uri.push('&'),
        Some(_) => {}
    }
    for (i, (name, value)) in added.iter().enumerate() {
        if i > 0 {
            uri.push('&');
        }
        uri.push_str(name);
        uri.push('=');
        encode_into(&mut uri, value.as_bytes(), false);
    }
    Ok(Presigned { signature, uri })
}

/// Everything the stages share, computed once.
struct Prepared {
    canonical_request: String,
    signed_headers: String,
    amz_date: String,
    scope: String,
    payload_hash: String,
}

fn prepare(
    req: &SignableRequest,
    params: &SigningParams<'_>,
    location: SignatureLocation,
) -> Result<Prepared, SignError> {
    let (amz_date, scope) = scope(params)?;
    let creds = params.credentials;
    let key_ok = !creds.access_key_id.is_empty()
        && creds.access_key_id.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b',');
    if !key_ok {
        return Err(SignError::InvalidAccessKeyId);
    }
    let token = creds.session_token.as_deref();
    if token.is_some_and(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(SignError::InvalidSessionToken);
    }
    if req.method.is_empty() || !req.method.bytes().all(is_tchar) {
        return Err(SignError::InvalidMethod);
    }
    if !req.uri.starts_with('/') || req.uri.chars().any(|c| c.is_ascii_control()) {
        return Err(SignError::InvalidUri);
    }
    let (path, query) = req.uri.split_once('?').unwrap_or((&req.uri, ""));
    let settings = params.settings;
    let payload_hash = sha256_hex(&req.body);
    let signed_token = token.filter(|_| !settings.omit_session_token);

    let (headers, query) = match location {
        SignatureLocation::Headers => {
            // Headers the signer sets are replaced, not duplicated: a stale X-Amz-Date
            // in the input must not be signed next to ours.
            let mut replaced = vec!["x-amz-date"];
            let mut added = vec![("x-amz-date", amz_date.as_str())];
            if token.is_some() {
                replaced.push("x-amz-security-token");
            }
            if let Some(token) = signed_token {
                added.push(("x-amz-security-token", token));
            }
            if settings.content_sha256_header {
                replaced.push("x-amz-content-sha256");
                added.push(("x-amz-content-sha256", &payload_hash));
            }
            let headers = canonical_headers(&req.headers, &replaced, &added)?;
            (headers, canonical_query(query, &[]))
        }
        SignatureLocation::Query => {
            if !(1..=MAX_EXPIRES_IN).contains(&settings.expires_in) {
                return Err(SignError::ExpiresOutOfRange(settings.expires_in));
            }
            let headers = canonical_headers(&req.headers, &[], &[])?;
            let credential = format!("{}/{scope}", creds.access_key_id);
            let expires = settings.expires_in.to_string();
            let mut added = vec![
                ("X-Amz-Algorithm", ALGORITHM),
                ("X-Amz-Credential", &credential),
                ("X-Amz-Date", &amz_date),
                ("X-Amz-Expires", &expires),
                ("X-Amz-SignedHeaders", &headers.signed),
            ];
            if let Some(token) = signed_token {
                added.push(("X-Amz-Security-Token", token));
            }
            let query = canonical_query(query, &added);
            (headers, query)
        }
    };
    let canonical_request = format!(
        "{}\n{}\n{query}\n{}\n{}\n{payload_hash}",
        req.method,
        canonical_path(path, &settings),
        headers.block,
        headers.signed,
    );
    Ok(Prepared { canonical_request, signed_headers: headers.signed, amz_date, scope, payload_hash })
}

/// `(AmzDate, Scope)` for these params, validating region and service on the way since
/// both end up inside the `Credential=` value.
fn scope(params: &SigningParams<'_>) -> Result<(String, String), SignError> {
    let is_scope_part =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !is_scope_part(params.region) {
        return Err(SignError::InvalidRegion);
    }
    if !is_scope_part(params.service) {
        return Err(SignError::InvalidService);
    }
    let amz_date = amz_date(params.time_unix)?;
    let scope = format!("{}/{}/{}/aws4_request", amz_date.get(..8).unwrap_or_default(), params.region, params.service);
    Ok((amz_date, scope))
}

/// `kSigning` from the formula in the module docs.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC zero-pads every key to the 64-byte block, hashing longer keys first
    // (RFC 2104 §2). Doing that here lets us use the fixed-size constructor, which
    // cannot fail, instead of unwrapping the slice one.
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    crate::keys::hex_encode(bytes)
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 3986 unreserved characters, the only ones SigV4 leaves unencoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `bytes` percent-encoded with uppercase hex, keeping unreserved characters (and
/// `/` when `keep_slash`).
fn encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    encode_into(&mut out, bytes, keep_slash);
    out
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays literal. `+` stays
/// `+`: this is RFC 3986 decoding, not form decoding.
fn percent_decode(s: &str) -> Vec<u8> {
    let hex_val = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_val(h).zip(hex_val(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// The canonical URI: optionally normalized, then encoded once (double encoding) or
/// decoded and re-encoded (single encoding).
fn canonical_path(path: &str, settings: &Settings) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let normalized;
    let path = if settings.normalize_path {
        normalized = normalize_path(path);
        normalized.as_str()
    } else {
        path
    };
    if settings.double_encode_path {
        encode(path.as_bytes(), true)
    } else {
        encode(&percent_decode(path), true)
    }
}

/// RFC 3986 §5.2.4 dot-segment removal, plus dropping empty segments (`//`), as AWS
/// normalizes. A trailing `/`, `/.` or `/..` leaves a trailing slash.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let ends_in_dir = matches!(path.rsplit('/').next(), Some("" | "." | ".."));
    if out.is_empty() || ends_in_dir {
        out.push('/');
    }
    out
}

/// The canonical query: every `name=value` pair decoded, re-encoded with the SigV4 set,
/// sorted by encoded name then value; a bare `name` becomes `name=`.
fn canonical_query(query: &str, added: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (encode(&percent_decode(name), false), encode(&percent_decode(value), false))
        })
        .chain(added.iter().map(|(n, v)| (encode(n.as_bytes(), false), encode(v.as_bytes(), false))))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

struct CanonicalHeaders {
    /// `name:value\n` per distinct name, sorted.
    block: String,
    /// `name;name;...`
    signed: String,
}

/// Lowercases names, normalizes values, drops unsigned and `replaced` headers, adds
/// `added`, sorts by name and joins repeated names' values with `,` in request order.
fn canonical_headers(
    headers: &[(String, String)],
    replaced: &[&str],
    added: &[(&str, &str)],
) -> Result<CanonicalHeaders, SignError> {
    let mut entries: Vec<(String, String)> = Vec::with_capacity(headers.len() + added.len());
    let mut has_host = false;
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(SignError::InvalidHeaderName(echo(name)));
        }
        let value = canonical_value(value).ok_or_else(|| SignError::InvalidHeaderValue { name: echo(name) })?;
        let name = name.to_ascii_lowercase();
        if UNSIGNED_HEADERS.contains(&name.as_str()) || replaced.contains(&name.as_str()) {
            continue;
        }
        has_host |= name == "host";
        entries.push((name, value));
    }
    if !has_host {
        return Err(SignError::MissingHost);
    }
    entries.extend(added.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    // Stable sort: repeated names keep their request order, which the signature covers.
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut block = String::new();
    let mut signed = String::new();
    let mut previous: Option<&str> = None;
    for (name, value) in &entries {
        if previous == Some(name.as_str()) {
            block.push(',');
        } else {
            if previous.is_some() {
                block.push('\n');
                signed.push(';');
            }
            block.push_str(name);
            block.push(':');
            signed.push_str(name);
        }
        block.push_str(value);
        previous = Some(name);
    }
    block.push('\n');
    Ok(CanonicalHeaders { block, signed })
}

/// A header value as SigV4 signs it: obsolete line folds (a line break followed by
/// space or tab) become one space, ends are trimmed and runs of spaces collapse to one.
/// `None` for any other control character, so no value can smuggle a header line.
fn canonical_value(raw: &str) -> Option<String> {
    let mut unfolded = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find(['\r', '\n']) {
        unfolded.push_str(&rest[..at]);
        let after = &rest[at..];
        let after = after.strip_prefix("\r\n").or_else(|| after.strip_prefix('\n'))?;
        if !after.starts_with([' ', '\t']) {
            return None;
        }
        unfolded.push(' ');
        rest = after.trim_start_matches([' ', '\t']);
    }
    unfolded.push_str(rest);
    if unfolded.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return None;
    }
    let mut out = String::with_capacity(unfolded.len());
    let mut after_space = false;
    for c in unfolded.trim_matches([' ', '\t']).chars() {
        if c != ' ' || !after_space {
            out.push(c);
        }
        after_space = c == ' ';
    }
    Some(out)
}

#[cfg(test)]
mod tests;
