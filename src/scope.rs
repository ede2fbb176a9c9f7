//! Docker token scopes such as `repository:proxy/acme/app:pull`: parsing what clients ask `/token`
//! for, printing what we ask upstreams for (<https://distribution.github.io/distribution/spec/auth/scope/>).
//!
//! ```text
//! scope          ::= resourcescope (" " resourcescope)*
//! resourcescope  ::= resourcetype ":" resourcename ":" action ("," action)*
//! resourcetype   ::= typevalue ("(" typevalue ")")?          typevalue ::= [a-z0-9]+
//! resourcename   ::= (hostname "/")? component ("/" component)*
//! hostname       ::= hostcomponent ("." hostcomponent)* (":" [0-9]+)?
//! hostcomponent  ::= [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! component      ::= see `reference::Name`
//! action         ::= [a-z]+ | "*"
//! ```
//!
//! The name may hold one `:` (a `host:port` prefix), so the type runs to the first colon
//! and the actions start after the last one. The spec allows an empty action; we reject
//! it because it grants nothing and no client sends it.

use std::fmt;
use std::str::FromStr;

use crate::reference::{echo, is_name_component, NAME_MAX_LEN};

/// Most scopes [`parse_all`] accepts from one request. Real clients send one or two
/// (containerd sends two); the cap bounds the work a hostile query string can cause.
pub const MAX_SCOPES: usize = 64;

/// Why a scope string was rejected. Echoed input is escaped and truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// Not of the form `type:name:actions`.
    Malformed(String),
    /// The resource type is not `[a-z0-9]+`, optionally followed by `(class)`.
    InvalidResourceType(String),
    /// The resource name is not a repository name with an optional `host[:port]/` prefix.
    InvalidName(String),
    /// An action is empty or not `[a-z]+` / `*`.
    InvalidAction(String),
    /// More than [`MAX_SCOPES`] distinct scopes in one request.
    TooMany,
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(s) => write!(f, "scope \"{s}\" must have the form type:name:actions"),
            Self::InvalidResourceType(s) => {
                write!(f, "scope resource type \"{s}\" must match [a-z0-9]+")
            }
            Self::InvalidName(s) => {
                write!(f, "scope resource name \"{s}\" is not a valid repository name")
            }
            Self::InvalidAction(s) => write!(f, "scope action \"{s}\" must match [a-z]+ or be *"),
            Self::TooMany => write!(f, "too many scopes (at most {MAX_SCOPES})"),
        }
    }
}

impl std::error::Error for ScopeError {}

/// One resource scope: a type, a name and the actions wanted on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `repository`, `registry`, ...; a `(class)` suffix has been dropped.
    pub resource_type: String,
    /// The resource name, e.g. `proxy/acme/app` or `catalog`.
    pub name: String,
    /// The actions, deduplicated, in the order given: `pull`, `push`, `*`, ...
    pub actions: Vec<String>,
}

impl Scope {
    /// Parses one resource scope such as `repository:localhost:5000/foo:pull,push`.
    ///
    /// ```
    /// use pullgate::scope::Scope;
    /// let s = Scope::parse("repository:localhost:5000/foo/bar:pull,push").unwrap();
    /// assert_eq!(s.name, "localhost:5000/foo/bar");
    /// assert!(s.has_action("push"));
    /// assert_eq!(s.to_string(), "repository:localhost:5000/foo/bar:pull,push");
    /// ```
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let malformed = || ScopeError::Malformed(echo(s));
        let (resource_type, rest) = s.split_once(':').ok_or_else(malformed)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(malformed)?;
        Ok(Scope {
            resource_type: parse_resource_type(resource_type)?,
            name: parse_name(name)?,
            actions: parse_actions(actions)?,
        })
    }

    /// A `repository` scope, for building the scope we request from an upstream.
    /// The caller passes a name it has already validated.
    pub fn repository(name: &str, actions: &[&str]) -> Scope {
        Scope {
            resource_type: "repository".to_owned(),
            name: name.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Whether `action` was asked for. `*` is matched literally, not as a wildcard, so a
    /// request for `*` never silently widens into `pull` or `push`.
    pub fn has_action(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }
}

/// `resourcetype ::= typevalue ("(" typevalue ")")?`; returns `typevalue`, since the
/// `(class)` form is deprecated and means the same as the bare type.
fn parse_resource_type(s: &str) -> Result<String, ScopeError> {
    let is_value = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let value = match s.split_once('(') {
        Some((value, class)) if class.strip_suffix(')').is_some_and(is_value) => value,
        Some(_) => "",
        None => s,
    };
    if !is_value(value) {
        return Err(ScopeError::InvalidResourceType(echo(s)));
    }
    Ok(value.to_owned())
}

/// `hostcomponent ::= [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_host_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

/// `hostname ::= hostcomponent ("." hostcomponent)* (":" [0-9]+)?`
fn is_hostname(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && host.split('.').all(is_host_component)
}

/// `resourcename ::= (hostname "/")? component ("/" component)*`
fn parse_name(s: &str) -> Result<String, ScopeError> {
    let mut parts = s.split('/');
    let first = parts.next().unwrap_or_default();
    let rest_ok = parts.clone().all(is_name_component);
    let has_rest = parts.next().is_some();
    let first_ok = is_name_component(first) || (has_rest && is_hostname(first));
    if s.len() > NAME_MAX_LEN || !first_ok || !rest_ok {
        return Err(ScopeError::InvalidName(echo(s)));
    }
    Ok(s.to_owned())
}

/// `action ("," action)*` with `action ::= [a-z]+ | "*"`, deduplicated in order.
fn parse_actions(s: &str) -> Result<Vec<String>, ScopeError> {
    let mut actions: Vec<String> = Vec::new();
    for action in s.split(',') {
        let ok = action == "*" || (!action.is_empty() && action.bytes().all(|b| b.is_ascii_lowercase()));
        if !ok {
            return Err(ScopeError::InvalidAction(echo(action)));
        }
        if !actions.iter().any(|a| a == action) {
            actions.push(action.to_owned());
        }
    }
    Ok(actions)
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.resource_type, self.name, self.actions.join(","))
    }
}

/// Parses every `scope` query value of a token request.
///
/// Clients send repeated `scope=` parameters, and one value may itself hold several
/// space-separated scopes (the POST form always does). Empty values and extra spaces are
/// ignored, identical scopes are kept once, and the first malformed scope fails the lot.
///
/// ```
/// use pullgate::scope::parse_all;
/// let scopes = parse_all(["repository:a:pull repository:b:pull", "", "repository:a:pull"]).unwrap();
/// assert_eq!(scopes.len(), 2);
/// ```
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, ScopeError> {
    let mut scopes: Vec<Scope> = Vec::new();
    for value in values {
        for piece in value.split(' ').filter(|p| !p.is_empty()) {
            let scope = Scope::parse(piece)?;
            if !scopes.contains(&scope) {
                if scopes.len() == MAX_SCOPES {
                    return Err(ScopeError::TooMany);
                }
                scopes.push(scope);
            }
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str, n: &str, a: &[&str]) -> Scope {
        Scope { resource_type: t.to_owned(), name: n.to_owned(), actions: a.iter().map(|s| (*s).to_owned()).collect() }
    }

    #[test]
    fn parses_good_scopes() {
        let cases = [
            (
                "repository:proxy/acme/x:pull",
                scope("repository", "proxy/acme/x", &["pull"]),
                "repository:proxy/acme/x:pull",
            ),
            (
                "repository:localhost:5000/foo/bar:pull,push",
                scope("repository", "localhost:5000/foo/bar", &["pull", "push"]),
                "repository:localhost:5000/foo/bar:pull,push",
            ),
            ("registry:catalog:*", scope("registry", "catalog", &["*"]), "registry:catalog:*"),
            (
                "repository(plugin):vieux/sshfs:pull",
                scope("repository", "vieux/sshfs", &["pull"]),
                "repository:vieux/sshfs:pull",
            ),
            (
                "repository:library/nginx:pull,pull,push",
                scope("repository", "library/nginx", &["pull", "push"]),
                "repository:library/nginx:pull,push",
            ),
            (
                "repository:Registry.Example-1.com/a__b/c-----d:delete",
                scope("repository", "Registry.Example-1.com/a__b/c-----d", &["delete"]),
                "repository:Registry.Example-1.com/a__b/c-----d:delete",
            ),
            (
                "repository:proxy/acme/ghcr.io/org/app:pull",
                scope("repository", "proxy/acme/ghcr.io/org/app", &["pull"]),
                "repository:proxy/acme/ghcr.io/org/app:pull",
            ),
        ];
        for (input, want, printed) in cases {
            let got = Scope::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got, want, "{input:?}");
            assert_eq!(got.to_string(), printed);
            assert_eq!(input.parse::<Scope>().as_ref(), Ok(&got));
        }
    }

    #[test]
    fn rejects_bad_scopes() {
        let m = |s: &str| ScopeError::Malformed(s.to_owned());
        let t = |s: &str| ScopeError::InvalidResourceType(s.to_owned());
        let n = |s: &str| ScopeError::InvalidName(s.to_owned());
        let a = |s: &str| ScopeError::InvalidAction(s.to_owned());
        let long_name = format!("repository:{}:pull", "a".repeat(NAME_MAX_LEN + 1));
        let cases = [
            ("", m("")),
            ("repository", m("repository")),
            ("repository:foo", m("repository:foo")),
            (":foo:pull", t("")),
            ("Repository:foo:pull", t("Repository")),
            ("repo sitory:foo:pull", t("repo sitory")),
            ("repository(:foo:pull", t("repository(")),
            ("repository(Plugin):foo:pull", t("repository(Plugin)")),
            ("repository():foo:pull", t("repository()")),
            ("repository::pull", n("")),
            ("repository:Foo:pull", n("Foo")),
            ("repository:foo/../bar:pull", n("foo/../bar")),
            ("repository:foo//bar:pull", n("foo//bar")),
            ("repository:foo/:pull", n("foo/")),
            ("repository:foo%2Fbar:pull", n("foo%2Fbar")),
            ("repository:localhost:5000:pull", n("localhost:5000")),
            ("repository:a:b:c/d:pull", n("a:b:c/d")),
            ("repository:host:port/x:pull", n("host:port/x")),
            ("repository:-host.com/x:pull", n("-host.com/x")),
            ("repository:foo/Bar:pull", n("foo/Bar")),
            (long_name.as_str(), n(&format!("{}...", "a".repeat(64)))),
            ("repository:foo:", a("")),
            ("repository:foo:pull,", a("")),
            ("repository:foo:Pull", a("Pull")),
            ("repository:foo:pull;push", a("pull;push")),
            ("repository:foo:pu*", a("pu*")),
            ("repository:foo:pull\r\n", a("pull\\r\\n")),
        ];
        for (input, want) in cases {
            assert_eq!(Scope::parse(input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn parse_all_accepts_repeated_and_space_separated_values() {
        let cases: [(&[&str], Vec<Scope>); 5] = [
            (&[], vec![]),
            (&["", " ", "  "], vec![]),
            (
                &["repository:library/nginx:pull", "repository:nginx:pull"],
                vec![scope("repository", "library/nginx", &["pull"]), scope("repository", "nginx", &["pull"])],
            ),
            (
                &["repository:a:pull  registry:catalog:* ", "repository:a:pull"],
                vec![scope("repository", "a", &["pull"]), scope("registry", "catalog", &["*"])],
            ),
            (
                &["repository:a:pull", "repository:a:pull,push"],
                vec![scope("repository", "a", &["pull"]), scope("repository", "a", &["pull", "push"])],
            ),
        ];
        for (values, want) in cases {
            assert_eq!(parse_all(values.iter().copied()), Ok(want), "{values:?}");
        }
    }

    #[test]
    fn parse_all_rejects_bad_input() {
        assert_eq!(
            parse_all(["repository:a:pull", "repository:a"]),
            Err(ScopeError::Malformed("repository:a".to_owned()))
        );
        assert_eq!(
            parse_all(["repository:a:pull\trepository:b:pull"]),
            Err(ScopeError::InvalidName("a:pull\\trepository:b".to_owned()))
        );
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("repository:r{i}:pull")).collect();
        assert_eq!(parse_all(many.iter().map(String::as_str)), Err(ScopeError::TooMany));
        // Duplicates do not count against the cap.
        let dupes = vec!["repository:a:pull"; MAX_SCOPES * 2];
        assert_eq!(parse_all(dupes).map(|s| s.len()), Ok(1));
    }

    #[test]
    fn has_action_matches_literally() {
        let s = scope("repository", "a", &["pull", "*"]);
        assert!(s.has_action("pull"));
        assert!(s.has_action("*"));
        assert!(!s.has_action("push"));
        assert!(!s.has_action("Pull"));
        assert!(!s.has_action(""));
    }

    #[test]
    fn builds_upstream_scope() {
        let s = Scope::repository("library/nginx", &["pull"]);
        assert_eq!(s.to_string(), "repository:library/nginx:pull");
        assert_eq!(Scope::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn error_messages_stay_on_one_line() {
        let msg = Scope::parse("repository:a:\"\r\nx").err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(msg, r#"scope action "\"\r\nx" must match [a-z]+ or be *"#);
    }
}
