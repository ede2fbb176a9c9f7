//! Input checks run before anything is written: each returns the normalised value, or a
//! usage failure that says what was wrong and how to write it instead.

use std::net::Ipv4Addr;

use pullgate::store::{DOCKER_HUB_API_HOST, DOCKER_HUB_NAMES};

use crate::failure::{Failure, Outcome};

/// `[a-z0-9][a-z0-9-]{0,38}`: an app slug, which appears in image paths (`proxy/<slug>/…`).
pub fn slug(input: &str) -> Outcome<String> {
    if is_short_name(input, 39) {
        Ok(input.to_string())
    } else {
        Err(Failure::usage(format!(
            "app slug {input:?} must be 1 to 39 lowercase letters, digits or '-', starting with a letter or digit (e.g. acme or acme-prod)"
        )))
    }
}

/// `[a-z0-9][a-z0-9-]{0,62}`, and not `proxy`: an upstream alias used as an image path component.
pub fn alias(input: &str) -> Outcome<String> {
    if !is_short_name(input, 63) {
        return Err(Failure::usage(format!(
            "alias {input:?} must be 1 to 63 lowercase letters, digits or '-', starting with a letter or digit (e.g. internal or quay)"
        )));
    }
    if input == "proxy" {
        return Err(Failure::usage("alias \"proxy\" is reserved: it starts the long image path form proxy/<app>/…"));
    }
    Ok(input.to_string())
}

fn is_short_name(input: &str, max: usize) -> bool {
    let b = input.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Free text shown to people (app display name, customer name): trimmed, 1..=max characters,
/// no control characters (they would corrupt tables and log lines).
pub fn label(input: &str, what: &str, max: usize) -> Outcome<String> {
    let text = input.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(Failure::usage(format!("{what} must be 1 to {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(Failure::usage(format!("{what} must not contain control characters (tabs, newlines)")));
    }
    Ok(text.to_string())
}

/// A DNS name for a custom domain: lowercase, at least two labels, no port, no IP literal.
///
/// ```text
/// hostname ::= label ("." label)+          total length <= 253, trailing "." dropped
/// label    ::= [a-z0-9] ([a-z0-9-]{0,61} [a-z0-9])?
/// ```
pub fn hostname(input: &str) -> Outcome<String> {
    let host = input.trim().to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host).to_string();
    let bad = |why: &str| {
        Failure::usage(format!("host name {input:?} {why}"))
            .hint("give the bare DNS name customers will pull from, e.g. images.vendor.com")
    };
    if host.contains("://") || host.contains('/') {
        return Err(bad("must be a bare host name, not a URL"));
    }
    if host.contains(':') {
        return Err(bad("must not carry a port (custom domains are served on 443)"));
    }
    if !host.is_ascii() {
        return Err(bad("must be ASCII: write internationalised names in their punycode (xn--) form"));
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Err(bad("is an IP address; a custom domain must be a DNS name"));
    }
    if host.len() > 253 {
        return Err(bad("is longer than 253 characters"));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("must have at least two labels (e.g. images.vendor.com)"));
    }
    if let Some(label) = labels.iter().find(|l| !is_dns_label(l)) {
        return Err(bad(&format!(
            "has an invalid label {label:?}: labels are 1 to 63 letters, digits or '-', not starting or ending with '-'"
        )));
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("ends in an all-numeric label, which no DNS name does"));
    }
    Ok(host)
}

fn is_dns_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// An upstream registry endpoint after validation and normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]`, lowercase, no trailing slash; Docker Hub as its API host.
    pub url: String,
    /// Host without port or brackets.
    pub host: String,
    /// A non-default port, if any.
    pub port: Option<u16>,
}

/// Checks an upstream endpoint. Without `insecure_dev`, refuses plain http, IP literals and
/// loopback names: the Worker must only ever call the vendor's real registries (SSRF).
/// A bare host (`ghcr.io`) means `https://ghcr.io`.
pub fn endpoint(input: &str, insecure_dev: bool) -> Outcome<Endpoint> {
    let trimmed = input.trim();
    let with_scheme = if trimmed.contains("://") { trimmed.to_string() } else { format!("https://{trimmed}") };
    let bad = |why: &str| Failure::usage(format!("endpoint {input:?} {why}"));
    let url = url::Url::parse(&with_scheme).map_err(|e| {
        bad(&format!("is not a URL ({e})")).hint("write it as https://host[:port], e.g. https://ghcr.io")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if insecure_dev => {}
        "http" => {
            return Err(bad("uses plain http")
                .hint("upstreams must use https; --insecure-dev allows http for a local test registry only"))
        }
        other => return Err(bad(&format!("has scheme {other:?}; use https://host[:port]"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("contains credentials")
            .hint("never put credentials in the URL: use --username with --password-stdin or --password-file"));
    }
    if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has a path, query or fragment; give only https://host[:port]"));
    }
    let (host, is_ip) = match url.host() {
        Some(url::Host::Domain(d)) => (d.to_ascii_lowercase(), false),
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), true),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), true),
        None => return Err(bad("has no host")),
    };
    if is_loopback(&host) && !insecure_dev {
        return Err(
            bad("is a loopback address").hint("--insecure-dev allows loopback upstreams for local testing only")
        );
    }
    if is_ip && !insecure_dev {
        return Err(bad("is an IP address").hint(
            "use the registry's DNS name; IP literals are refused (--insecure-dev allows them for local testing)",
        ));
    }
    // DNS names must be fully qualified; only a local test registry may be plain `localhost`.
    let needs_fqdn = !(is_ip || (insecure_dev && host == "localhost"));
    if needs_fqdn {
        hostname(&host).map_err(|_| {
            bad("does not have a valid, fully qualified host name").hint("e.g. https://registry.example.com")
        })?;
    }
    let port = url.port();
    if DOCKER_HUB_NAMES.contains(&host.as_str()) {
        if port.is_some() || url.scheme() != "https" {
            return Err(bad("names Docker Hub with a port or http; Docker Hub is https://registry-1.docker.io"));
        }
        return Ok(Endpoint {
            url: format!("https://{DOCKER_HUB_API_HOST}"),
            host: DOCKER_HUB_API_HOST.to_string(),
            port: None,
        });
    }
    let shown_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let url = match port {
        Some(p) => format!("{}://{shown_host}:{p}", url.scheme()),
        None => format!("{}://{shown_host}", url.scheme()),
    };
    Ok(Endpoint { url, host, port })
}

/// Loopback, as the edge decides it: `localhost`, `*.localhost`, 127.0.0.0/8, 0.0.0.0/8, `::1`,
/// `::`, their IPv4-mapped forms and trailing-dot spellings (`pullgate::upstream::host_kind`).
pub use pullgate::upstream::is_loopback;

/// A repository allow-pattern or license entitlement, in `pattern` syntax.
pub fn repo_pattern(input: &str) -> Outcome<String> {
    pullgate::pattern::validate(input).map_err(Failure::usage)?;
    Ok(input.to_string())
}

/// The duration units `pullgate::time::parse_duration` takes, as every help text, error message
/// and docs/cli.md lists them; a bare `m` (minutes or months?) is refused as ambiguous.
pub const DURATION_UNITS: &str = "s, min, h, d, w, y";

/// `--expires`: `YYYY-MM-DD` (00:00 UTC that day), RFC 3339 (`Z` or `±HH:MM`), or a
/// duration from now (a whole number and one of [`DURATION_UNITS`]). Must lie in the future.
pub fn expiry(input: &str, now: i64) -> Outcome<i64> {
    let text = input.trim();
    let at = pullgate::time::parse_duration(text)
        .and_then(|d| now.checked_add(d))
        .or_else(|| parse_rfc3339(text))
        .ok_or_else(|| {
            let failure = Failure::usage(format!(
                "expiry {input:?} is neither a date (2027-01-31), an RFC 3339 time (2027-01-31T12:00:00Z) \
                 nor a duration (a whole number and one of {DURATION_UNITS}, e.g. 90d, 12h, 30min)"
            ));
            if text.strip_suffix('m').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
                failure.hint("`m` could mean minutes or months: write min for minutes, or d, w or y")
            } else {
                failure
            }
        })?;
    if at <= now {
        return Err(Failure::usage(format!(
            "expiry {input:?} is in the past ({}); give a future date or a duration",
            pullgate::time::format_rfc3339(at)
        )));
    }
    Ok(at)
}

/// `--since`: a duration back from now (`7d`, `12h`, the units of [`DURATION_UNITS`]), a date
/// (`YYYY-MM-DD`, 00:00 UTC) or an RFC 3339 time; not in the future.
pub fn since(input: &str, now: i64) -> Outcome<i64> {
    let text = input.trim();
    let at = pullgate::time::parse_duration(text)
        .and_then(|d| now.checked_sub(d))
        .or_else(|| parse_rfc3339(text))
        .ok_or_else(|| {
            Failure::usage(format!(
                "--since {input:?} is neither a duration back from now (7d, 12h, 30min), a date (2027-01-31) \
                 nor an RFC 3339 time"
            ))
        })?;
    if at > now {
        return Err(Failure::usage(format!("--since {input:?} is in the future")));
    }
    Ok(at)
}

/// RFC 3339 with fractional seconds dropped and numeric offsets applied; plain dates too.
fn parse_rfc3339(text: &str) -> Option<i64> {
    if let Some(at) = pullgate::time::parse_date(text) {
        return Some(at);
    }
    let (date, time) = text.split_once(['T', 't'])?;
    let (clock, offset) = match time.strip_suffix(['Z', 'z']) {
        Some(clock) => (clock, 0),
        None => {
            let split = time.rfind(['+', '-'])?;
            let (clock, off) = time.split_at(split);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (h, m) = off[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            (clock, sign * (h * 3600 + m * 60))
        }
    };
    let clock = clock.split_once('.').map_or(clock, |(whole, frac)| {
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
            whole
        } else {
            "invalid"
        }
    });
    pullgate::time::parse_date(&format!("{date}T{clock}Z")).map(|t| t - offset)
}

/// `k` + 8 lowercase hex: a signing key id.
pub fn key_id(input: &str) -> Outcome<String> {
    let ok = input.len() == 9 && input.starts_with('k') && is_lower_hex(&input[1..]);
    if ok {
        Ok(input.to_string())
    } else {
        Err(Failure::usage(format!("key id {input:?} must be 'k' and 8 hex digits (see `pullgate key list`)")))
    }
}

/// `lic_` + 24 lowercase hex: a license id.
pub fn license_id(input: &str) -> Outcome<String> {
    match input.strip_prefix("lic_") {
        Some(hex) if hex.len() == 24 && is_lower_hex(hex) => Ok(input.to_string()),
        _ => Err(Failure::usage(format!(
            "license id {input:?} must be 'lic_' and 24 hex digits (see `pullgate license list`)"
        ))),
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An AWS access key id: 16 to 128 uppercase letters and digits (AKIA…, ASIA…).
pub fn aws_access_key_id(input: &str) -> Outcome<String> {
    let ok = (16..=128).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(input.to_string())
    } else {
        Err(Failure::usage(format!(
            "AWS access key id {input:?} must be 16 to 128 uppercase letters and digits (e.g. AKIAIOSFODNN7EXAMPLE)"
        )))
    }
}

/// An AWS region such as `us-east-1` or `us-gov-west-1`.
pub fn aws_region(input: &str) -> Outcome<String> {
    let parts: Vec<&str> = input.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if ok {
        Ok(input.to_string())
    } else {
        Err(Failure::usage(format!("AWS region {input:?} must look like us-east-1 or eu-central-2")))
    }
}

/// The region of an ECR endpoint host `<12-digit account>.dkr.ecr.<region>.amazonaws.com[.cn]`.
pub fn ecr_region(host: &str) -> Option<String> {
    let rest = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let (account, rest) = rest.split_once(".dkr.ecr.")?;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (account_ok && aws_region(rest).is_ok()).then(|| rest.to_string())
}

/// Whether a host is Google Container Registry or Artifact Registry.
pub fn is_google_registry(host: &str) -> bool {
    host == "gcr.io" || host.ends_with(".gcr.io") || host.ends_with("-docker.pkg.dev")
}

/// A Google service-account JSON key: returns its `client_email` (the public identity).
pub fn gcr_json_key(text: &str) -> Outcome<String> {
    let bad = |why: &str| {
        Failure::usage(format!("the --json-key-file {why}"))
            .hint("download a key for the service account (IAM → Service accounts → Keys → Add key → JSON)")
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad("is not JSON"))?;
    let object = value.as_object().ok_or_else(|| bad("is not a JSON object"))?;
    if object.get("type").and_then(|t| t.as_str()) != Some("service_account") {
        return Err(bad("is not a service-account key (\"type\" is not \"service_account\")"));
    }
    let email = object
        .get("client_email")
        .and_then(|e| e.as_str())
        .filter(|e| e.contains('@'))
        .ok_or_else(|| bad("has no \"client_email\""))?;
    let key = object.get("private_key").and_then(|k| k.as_str()).unwrap_or_default();
    if !key.contains("PRIVATE KEY") {
        return Err(bad("has no \"private_key\""));
    }
    Ok(email.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_slugs_and_aliases() {
        for good in ["a", "0", "acme", "acme-prod", "a1-b2", &"a".repeat(39)] {
            assert_eq!(slug(good).unwrap(), good);
        }
        for good in ["local", "quay", "x", &"a".repeat(63), "9-lives"] {
            assert_eq!(alias(good).unwrap(), good);
        }
    }

    #[test]
    fn rejects_bad_slugs_and_aliases() {
        for bad in ["", "-acme", "Acme", "acme_prod", "acme.prod", "ac me", &"a".repeat(40), "é"] {
            assert!(slug(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "proxy", "-x", "X", "a.b", "a/b", &"a".repeat(64)] {
            assert!(alias(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(label("  Acme Corp ", "name", 100).unwrap(), "Acme Corp");
        for bad in ["", "   ", "a\tb", "a\nb", &"x".repeat(101)] {
            assert!(label(bad, "name", 100).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepts_good_hostnames() {
        for (input, want) in [
            ("images.vendor.com", "images.vendor.com"),
            ("Images.Vendor.COM.", "images.vendor.com"),
            ("a.b", "a.b"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("a-1.b-2.io", "a-1.b-2.io"),
        ] {
            assert_eq!(hostname(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_bad_hostnames() {
        for bad in [
            "",
            "localhost",
            "vendor",
            "1.2.3.4",
            "https://images.vendor.com",
            "images.vendor.com:443",
            "-a.vendor.com",
            "a-.vendor.com",
            "a..vendor.com",
            "*.vendor.com",
            "bücher.example",
            "a_b.vendor.com",
            "images.vendor.123",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}com", "abcdefghi.".repeat(26)),
        ] {
            assert!(hostname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepts_and_normalises_good_endpoints() {
        for (input, insecure, want) in [
            ("https://ghcr.io", false, "https://ghcr.io"),
            ("ghcr.io", false, "https://ghcr.io"),
            ("https://GHCR.io/", false, "https://ghcr.io"),
            ("https://registry.example.com:443", false, "https://registry.example.com"),
            ("https://registry.example.com:5000", false, "https://registry.example.com:5000"),
            ("docker.io", false, "https://registry-1.docker.io"),
            ("https://index.docker.io", false, "https://registry-1.docker.io"),
            ("https://registry-1.docker.io", false, "https://registry-1.docker.io"),
            ("http://127.0.0.1:5000", true, "http://127.0.0.1:5000"),
            ("http://localhost:5000", true, "http://localhost:5000"),
            ("http://[::1]:5000", true, "http://[::1]:5000"),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                false,
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            ),
        ] {
            let got = endpoint(input, insecure).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.url, want, "{input}");
        }
        let with_port = endpoint("https://r.example.com:5000", false).unwrap();
        assert_eq!((with_port.host.as_str(), with_port.port), ("r.example.com", Some(5000)));
    }

    #[test]
    fn rejects_bad_endpoints() {
        for (bad, why) in [
            ("http://registry.example.com", "plain http"),
            ("https://user:pw@registry.example.com", "credentials"),
            ("https://user@registry.example.com", "credentials"),
            ("https://1.2.3.4", "IP address"),
            ("https://[2001:db8::1]", "IP address"),
            ("https://localhost", "loopback"),
            ("https://127.0.0.1:5000", "loopback"),
            ("https://foo.localhost", "loopback"),
            ("https://localhost.", "loopback"),
            ("https://foo.localhost.", "loopback"),
            ("https://[::ffff:127.0.0.1]", "loopback"),
            ("https://0x7f.1", "loopback"),
            ("https://registry", "fully qualified"),
            ("https://ghcr.io/v2/", "path"),
            ("https://ghcr.io?x=1", "path"),
            ("ftp://ghcr.io", "scheme"),
            ("https://docker.io:5000", "Docker Hub"),
            ("https://", "not a URL"),
        ] {
            let err = endpoint(bad, false).expect_err(bad);
            assert_eq!(err.exit, crate::failure::Exit::Usage);
            let text = format!("{err}");
            assert!(text.contains(why), "{bad}: {text}");
        }
        // --insecure-dev relaxes loopback/IP/http, never credentials or paths.
        assert!(endpoint("http://u:p@127.0.0.1:5000", true).is_err());
        assert!(endpoint("http://127.0.0.1:5000/v2", true).is_err());
    }

    #[test]
    fn patterns_use_the_shared_validator() {
        assert!(repo_pattern("acme/*").is_ok());
        assert!(repo_pattern("Acme/*").is_err());
    }

    #[test]
    fn parses_good_expiries() {
        let now = 1_790_000_000; // 2026-09-21T14:13:20Z
        for (input, want) in [
            ("90d", now + 90 * 86_400),
            ("12h", now + 12 * 3600),
            ("2w", now + 14 * 86_400),
            ("1y", now + 365 * 86_400),
            ("2026-10-01", 1_790_812_800),
            ("2026-10-01T00:00:00Z", 1_790_812_800),
            ("2026-10-01T02:00:00+02:00", 1_790_812_800),
            ("2026-09-30T19:00:00-05:00", 1_790_812_800),
            ("2026-10-01T00:00:00.123Z", 1_790_812_800),
        ] {
            assert_eq!(expiry(input, now).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn help_errors_and_docs_list_the_same_duration_units() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let issue = cli.find_subcommand("license").and_then(|c| c.find_subcommand("issue")).unwrap();
        let expires = issue.get_arguments().find(|a| a.get_id() == "expires").unwrap();
        let help = expires.get_help().map(|h| h.to_string()).unwrap_or_default();
        let message = expiry("5x", 1_790_000_000).unwrap_err().message;
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
        for (what, text) in [("--expires help", help.as_str()), ("error", message.as_str()), ("docs/cli.md", &docs)] {
            assert!(text.contains(DURATION_UNITS), "{what} does not list {DURATION_UNITS}: {text}");
            assert!(!text.contains("d/h/w/y"), "{what} lists an old unit set");
        }
    }

    #[test]
    fn rejects_bad_expiries() {
        let now = 1_790_000_000;
        for bad in [
            "",
            "tomorrow",
            "0d",
            "-5d",
            "2026-02-30",
            "2026-09-01",
            "2020-01-01T00:00:00Z",
            "2026-10-01T00:00:00+2:00",
            "2026-10-01T00:00:00.Z",
            "10x",
        ] {
            assert!(expiry(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_have_fixed_shapes() {
        assert!(key_id("k0123abcd").is_ok());
        for bad in ["k0123abc", "K0123abcd", "k0123abcg", "x0123abcd", "k0123ABCD"] {
            assert!(key_id(bad).is_err(), "{bad}");
        }
        assert!(license_id("lic_0123456789abcdef01234567").is_ok());
        for bad in
            ["lic_0123", "LIC_0123456789abcdef01234567", "lic_0123456789abcdef0123456z", "0123456789abcdef01234567"]
        {
            assert!(license_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aws_inputs() {
        assert!(aws_access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        for bad in ["akiaiosfodnn7example", "AKIA", "AKIA IOSFODNN7EXAMPLE"] {
            assert!(aws_access_key_id(bad).is_err(), "{bad}");
        }
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4", "cn-north-1"] {
            assert!(aws_region(good).is_ok(), "{good}");
        }
        for bad in ["", "us-east", "useast1", "US-EAST-1", "us-east-x", "u-east-1"] {
            assert!(aws_region(bad).is_err(), "{bad}");
        }
        assert_eq!(ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com").as_deref(), Some("eu-west-1"));
        assert_eq!(ecr_region("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").as_deref(), Some("cn-north-1"));
        for bad in [
            "12345.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.amazonaws.com",
            "ghcr.io",
            "123456789012.dkr.ecr.eu-west-1.example.com",
        ] {
            assert_eq!(ecr_region(bad), None, "{bad}");
        }
    }

    #[test]
    fn google_registries() {
        for good in ["gcr.io", "eu.gcr.io", "europe-west1-docker.pkg.dev"] {
            assert!(is_google_registry(good), "{good}");
        }
        for bad in ["ghcr.io", "notgcr.io", "pkg.dev"] {
            assert!(!is_google_registry(bad), "{bad}");
        }
    }

    #[test]
    fn service_account_keys() {
        let good = r#"{"type":"service_account","client_email":"puller@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"}"#;
        assert_eq!(gcr_json_key(good).unwrap(), "puller@p.iam.gserviceaccount.com");
        for bad in [
            "not json",
            "[]",
            r#"{"type":"authorized_user","client_email":"a@b","private_key":"PRIVATE KEY"}"#,
            r#"{"type":"service_account","private_key":"PRIVATE KEY"}"#,
            r#"{"type":"service_account","client_email":"a@b"}"#,
        ] {
            assert!(gcr_json_key(bad).is_err(), "{bad}");
        }
    }
}

/// A duration such as `30d` (the forms `--expires` takes), in seconds.
pub fn duration(input: &str) -> Outcome<i64> {
    pullgate::time::try_parse_duration(input.trim())
        .map_err(|e| Failure::usage(format!("duration {input:?}: {e} (e.g. 30d, 12h, 2w)")))
}
