//! `WWW-Authenticate` both ways (RFC 9110 §11.6.1): building our `Bearer` challenge, and parsing
//! whatever challenges an upstream registry sends.
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! quoted-string    = DQUOTE *( qdtext / "\" any-char ) DQUOTE
//! ```

/// Builds our `Bearer` challenge, every parameter quoted:
/// `Bearer realm="…",service="…",scope="…",error="…"`.
///
/// Always pass a scope on a 401: Nexus and other downstream proxies fail without one.
/// Values are made safe rather than trusted: `"` and `\` are escaped, and control and
/// non-ASCII characters are dropped, so no input can end the quoted string, add a
/// parameter or split the header.
///
/// ```
/// let h = pullgate::challenge::bearer("https://r.example/v2/token", "r.example", Some("repository:a:pull"), None);
/// assert_eq!(h, r#"Bearer realm="https://r.example/v2/token",service="r.example",scope="repository:a:pull""#);
/// ```
pub fn bearer(realm: &str, service: &str, scope: Option<&str>, error: Option<&str>) -> String {
    let mut out = String::from("Bearer ");
    push_param(&mut out, "realm", realm);
    out.push(',');
    push_param(&mut out, "service", service);
    if let Some(scope) = scope {
        out.push(',');
        push_param(&mut out, "scope", scope);
    }
    if let Some(error) = error {
        out.push(',');
        push_param(&mut out, "error", error);
    }
    out
}

/// Builds a `Basic realm="…"` challenge, with the same quoting as [`bearer`].
pub fn basic(realm: &str) -> String {
    let mut out = String::from("Basic ");
    push_param(&mut out, "realm", realm);
    out
}

fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    // The usual value (a realm URL, a scope) has nothing to escape or drop: copied whole.
    if value.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        out.push_str(value);
        out.push('"');
        return;
    }
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // Header values are ASCII on the wire; control characters could split the
            // header line, and Workers rejects non-Latin-1 header values outright.
            c if c.is_control() || !c.is_ascii() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme, lowercased: `bearer`, `basic`, `negotiate`, ...
    pub scheme: String,
    /// The auth-params in order, names lowercased, values unquoted and unescaped.
    /// Duplicates are kept; [`Challenge::param`] returns the first.
    pub params: Vec<(String, String)>,
    /// The token68 form (`Negotiate abc==`), which carries no params.
    pub token68: Option<String>,
}

impl Challenge {
    /// The first parameter called `name`, compared case-insensitively.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the scheme is `scheme`, compared case-insensitively.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Parses one `WWW-Authenticate` header value into its challenges.
///
/// Never fails: malformed list elements are skipped and everything recognisable is
/// returned, so a sloppy upstream still yields its `realm`. An unterminated quoted
/// string runs to the end of the header.
///
/// ```
/// let cs = pullgate::challenge::parse(r#"Basic realm="x", Bearer realm="y",scope="repository:a:pull,push""#);
/// assert_eq!(cs.len(), 2);
/// assert_eq!(cs[1].param("Scope"), Some("repository:a:pull,push"));
/// ```
pub fn parse(header: &str) -> Vec<Challenge> {
    let b = header.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        i = skip(b, i, |c| c == b',' || is_ws(c));
        if i >= b.len() {
            return out;
        }
        let start = i;
        i = skip(b, i, is_tchar);
        let scheme_end = i;
        i = skip(b, i, is_ws);
        let scheme_ok = scheme_end > start && (i == b.len() || b[i] == b',' || i > scheme_end);
        if !scheme_ok {
            // Not `scheme SP ...`: drop this list element and resynchronise at a comma.
            i = skip_element(b, i);
            continue;
        }
        let mut challenge =
            Challenge { scheme: header[start..scheme_end].to_ascii_lowercase(), params: Vec::new(), token68: None };
        if i < b.len() && b[i] != b',' {
            match token68_end(b, i) {
                Some(end) => {
                    challenge.token68 = Some(header[i..end].to_owned());
                    i = end;
                }
                None => i = parse_params(header, i, &mut challenge.params),
            }
        }
        out.push(challenge);
    }
}

/// Parses several `WWW-Authenticate` header lines (a response may repeat the header)
/// into one list, in order.
pub fn parse_all<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    headers.into_iter().flat_map(parse).collect()
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn skip(b: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && pred(b[i]) {
        i += 1;
    }
    i
}

/// Moves to the next top-level comma (or the end), stepping over quoted strings so a
/// comma inside one does not end the element.
fn skip_element(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b',' {
        if b[i] == b'"' {
            i = quoted_string(b, i).1;
        } else {
            i += 1;
        }
    }
    i
}

/// If a token68 starts at `i` and is all that is left of this challenge, returns where it
/// ends. `abc=` followed by `,` is token68, not a param: a param value cannot be empty.
fn token68_end(b: &[u8], i: usize) -> Option<usize> {
    let body_end = skip(b, i, is_token68_char);
    if body_end == i {
        return None;
    }
    let end = skip(b, body_end, |c| c == b'=');
    let next = skip(b, end, is_ws);
    (next == b.len() || b[next] == b',').then_some(end)
}

/// Whether a list element starting at `i` looks like `token BWS "="`, i.e. continues the
/// current challenge's params rather than starting a new challenge.
fn is_param_start(b: &[u8], i: usize) -> bool {
    let name_end = skip(b, i, is_tchar);
    let eq = skip(b, name_end, is_ws);
    name_end > i && b.get(eq) == Some(&b'=')
}

/// Parses `#auth-param` from `i`; returns where the next challenge (or the end) begins.
fn parse_params(header: &str, mut i: usize, params: &mut Vec<(String, String)>) -> usize {
    let b = header.as_bytes();
    loop {
        if is_param_start(b, i) {
            let name_end = skip(b, i, is_tchar);
            let name = header[i..name_end].to_ascii_lowercase();
            // Skip BWS, the "=" that is_param_start found, and BWS again.
            i = skip(b, skip(b, name_end, is_ws) + 1, is_ws);
            let value = if b.get(i) == Some(&b'"') {
                let (value, end) = quoted_string(b, i);
                i = end;
                value
            } else {
                // Strictly a token; we also take `/` and `:` so an unquoted URL realm
                // from a lax server still comes through whole.
                let end = skip(b, i, |c| c != b',' && !is_ws(c));
                let value = header[i..end].to_owned();
                i = end;
                value
            };
            params.push((name, value));
        }
        // Anything else up to the comma is junk (e.g. `realm="x"junk`); drop it.
        i = skip_element(b, i);
        let next = skip(b, i, |c| c == b',' || is_ws(c));
        if next >= b.len() || !is_param_start(b, next) {
            return next;
        }
        i = next;
    }
}

/// Reads the quoted-string whose opening quote is at `i`; returns the unescaped value and
/// the index just past the closing quote (or the end, if it never closes).
fn quoted_string(b: &[u8], mut i: usize) -> (String, usize) {
    let mut value = Vec::new();
    i += 1;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                break;
            }
            b'\\' if i + 1 < b.len() => {
                value.push(b[i + 1]);
                i += 2;
            }
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
    // Only ASCII bytes are ever dropped, so this is valid UTF-8 whenever the input was.
    (String::from_utf8_lossy(&value).into_owned(), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_owned(),
            params: params.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            token68: None,
        }
    }

    fn t68(scheme: &str, token: &str) -> Challenge {
        Challenge { token68: Some(token.to_owned()), ..ch(scheme, &[]) }
    }

    #[test]
    fn parses_real_world_headers() {
        let cases: Vec<(&str, Vec<Challenge>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:library/nginx:pull"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://ghcr.io/token"),
                        ("service", "ghcr.io"),
                        ("scope", "repository:user/image:pull"),
                    ],
                )],
            ),
            (
                r#"Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#,
                vec![ch(
                    "basic",
                    &[
                        ("realm", "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/"),
                        ("service", "ecr.amazonaws.com"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://gcr.io/v2/token",service="gcr.io",scope="repository:google-containers/pause:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://gcr.io/v2/token"),
                        ("service", "gcr.io"),
                        ("scope", "repository:google-containers/pause:pull"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://us-docker.pkg.dev/v2/token",service="us-docker.pkg.dev",scope="repository:proj/repo/app:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://us-docker.pkg.dev/v2/token"),
                        ("service", "us-docker.pkg.dev"),
                        ("scope", "repository:proj/repo/app:pull"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:coreos/etcd:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://quay.io/v2/auth"),
                        ("service", "quay.io"),
                        ("scope", "repository:coreos/etcd:pull"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://x.jfrog.io/artifactory/api/docker/repo/v2/token",service="x.jfrog.io""#,
                vec![ch(
                    "bearer",
                    &[("realm", "https://x.jfrog.io/artifactory/api/docker/repo/v2/token"), ("service", "x.jfrog.io")],
                )],
            ),
            (
                r#"Bearer realm="https://myreg.azurecr.io/oauth2/token",service="myreg.azurecr.io""#,
                vec![ch(
                    "bearer",
                    &[("realm", "https://myreg.azurecr.io/oauth2/token"), ("service", "myreg.azurecr.io")],
                )],
            ),
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push",error="insufficient_scope""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:samalba/my-app:pull,push"),
                        ("error", "insufficient_scope"),
                    ],
                )],
            ),
            (
                r#"Basic realm="x", Bearer realm="y",service="z""#,
                vec![ch("basic", &[("realm", "x")]), ch("bearer", &[("realm", "y"), ("service", "z")])],
            ),
            (
                r#"Negotiate YIIFzwYGKwYBBQUCoIIFwzCCBb+gMDAu==, Basic realm="corp""#,
                vec![t68("negotiate", "YIIFzwYGKwYBBQUCoIIFwzCCBb+gMDAu=="), ch("basic", &[("realm", "corp")])],
            ),
            ("Negotiate abc=", vec![t68("negotiate", "abc=")]),
            ("Negotiate, NTLM", vec![ch("negotiate", &[]), ch("ntlm", &[])]),
            (
                "BEARER Realm=https://r.example/token, Service=r.example ,scope=\"a\"",
                vec![ch("bearer", &[("realm", "https://r.example/token"), ("service", "r.example"), ("scope", "a")])],
            ),
            ("  Bearer\t realm = \"x\" ,  , service=\"y\"  ,", vec![ch("bearer", &[("realm", "x"), ("service", "y")])]),
            (
                r#"Bearer realm="a\"b\\c",scope="repository:a:pull,push""#,
                vec![ch("bearer", &[("realm", r#"a"b\c"#), ("scope", "repository:a:pull,push")])],
            ),
            (r#"Bearer realm="x",realm="evil""#, vec![ch("bearer", &[("realm", "x"), ("realm", "evil")])]),
        ];
        for (header, want) in cases {
            assert_eq!(parse(header), want, "header {header:?}");
        }
    }

    #[test]
    fn salvages_malformed_headers() {
        let cases: Vec<(&str, Vec<Challenge>)> = vec![
            ("", vec![]),
            ("   ", vec![]),
            (",,,", vec![]),
            ("=", vec![]),
            ("\"\"", vec![]),
            ("realm=\"x\"", vec![]),
            ("\"quoted, with comma\", Basic realm=\"ok\"", vec![ch("basic", &[("realm", "ok")])]),
            ("Bearer realm=\"unterminated", vec![ch("bearer", &[("realm", "unterminated")])]),
            ("Bearer realm=\"x\"junk,service=\"y\"", vec![ch("bearer", &[("realm", "x"), ("service", "y")])]),
            ("Bearer =x, Basic realm=\"b\"", vec![ch("bearer", &[]), ch("basic", &[("realm", "b")])]),
            // `realm=` alone is the token68 form, as a param value cannot be empty.
            ("Bearer realm=", vec![t68("bearer", "realm=")]),
            ("Bearer realm=\"\"", vec![ch("bearer", &[("realm", "")])]),
            ("Bearer\"x\", Basic", vec![ch("basic", &[])]),
            ("B\u{e9}arer realm=\"x\"", vec![]),
            ("Bearer realm=\"caf\u{e9}\"", vec![ch("bearer", &[("realm", "caf\u{e9}")])]),
            ("Bearer realm=\"x\\", vec![ch("bearer", &[("realm", "x\\")])]),
        ];
        for (header, want) in cases {
            assert_eq!(parse(header), want, "header {header:?}");
        }
    }

    #[test]
    fn never_panics_or_hangs_on_noise() {
        // A small deterministic generator over the characters the parser cares about.
        let alphabet: Vec<char> = "Bb r=\",\\\t\u{e9}=/a9".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = usize::try_from(state % 24).unwrap_or(0);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let idx = usize::try_from(state % alphabet.len() as u64).unwrap_or(0);
                s.push(alphabet[idx]);
            }
            let challenges = parse(&s);
            assert!(challenges.len() <= s.len(), "{s:?}");
        }
    }

    #[test]
    fn parse_all_joins_header_lines() {
        let got = parse_all([r#"Basic realm="a""#, "", r#"Bearer realm="b""#]);
        assert_eq!(got, vec![ch("basic", &[("realm", "a")]), ch("bearer", &[("realm", "b")])]);
    }

    #[test]
    fn looks_up_params_and_schemes_case_insensitively() {
        let c = &parse(r#"BeArEr REALM="r",realm="second""#)[0];
        assert_eq!(c.param("realm"), Some("r"));
        assert_eq!(c.param("Realm"), Some("r"));
        assert_eq!(c.param("service"), None);
        assert!(c.is_scheme("Bearer"));
        assert!(!c.is_scheme("basic"));
    }

    #[test]
    fn builds_our_challenges() {
        let cases = [
            (
                bearer("https://r.example/v2/token", "r.example", None, None),
                r#"Bearer realm="https://r.example/v2/token",service="r.example""#,
            ),
            (
                bearer(
                    "https://r.example/v2/token",
                    "r.example",
                    Some("repository:proxy/acme/x:pull"),
                    Some("insufficient_scope"),
                ),
                r#"Bearer realm="https://r.example/v2/token",service="r.example",scope="repository:proxy/acme/x:pull",error="insufficient_scope""#,
            ),
            (
                bearer("a\"b\\c", "s\r\nSet-Cookie: x=1", Some("caf\u{e9}\0"), None),
                r#"Bearer realm="a\"b\\c",service="sSet-Cookie: x=1",scope="caf""#,
            ),
            (basic("https://r.example/"), r#"Basic realm="https://r.example/""#),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn round_trips_what_bearer_emits() {
        let cases: [(&str, &str, Option<&str>, Option<&str>); 4] = [
            ("https://r.example/v2/token", "r.example", Some("repository:a:pull,push"), None),
            ("https://r.example/v2/token", "r.example", None, Some("insufficient_scope")),
            (r#"https://x/",realm="https://evil"#, r#"a\"b"#, Some(r#"\\",scope="x"#), None),
            ("", "", Some(""), Some(r#"""#)),
        ];
        for (realm, service, scope, error) in cases {
            let header = bearer(realm, service, scope, error);
            assert!(!header.contains(['\r', '\n']), "{header}");
            let got = parse(&header);
            let mut want = vec![("realm", realm), ("service", service)];
            want.extend(scope.map(|s| ("scope", s)));
            want.extend(error.map(|e| ("error", e)));
            assert_eq!(got, vec![ch("bearer", &want)], "header {header}");
        }
        // Control characters are dropped, not smuggled: the rest survives the trip.
        let got = parse(&bearer("r\r\n", "s\t", Some("x\u{7f}y"), None));
        assert_eq!(got, vec![ch("bearer", &[("realm", "r"), ("service", "s"), ("scope", "xy")])]);
        // So are non-ASCII ones (Workers refuses non-Latin-1 header values); plain ones stay whole.
        assert_eq!(
            bearer("https://é.example/~t", "s", None, None),
            r#"Bearer realm="https://.example/~t",service="s""#
        );
    }
}
