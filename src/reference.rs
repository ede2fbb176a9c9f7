//! Repository names, tags and digests as the OCI distribution spec defines them, parsed by hand
//! without regex (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// Longest repository name we accept, in bytes; many clients cap `host/name` there too.
pub const NAME_MAX_LEN: usize = 255;

/// Longest tag the spec allows, in bytes.
pub const TAG_MAX_LEN: usize = 128;

/// Longest piece of rejected input echoed back in an error message, in characters.
const ECHO_MAX_CHARS: usize = 64;

/// Why a name, tag, digest or reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The repository name was empty.
    EmptyName,
    /// The repository name is longer than [`NAME_MAX_LEN`] bytes.
    NameTooLong {
        /// Length of the rejected name, in bytes.
        len: usize,
    },
    /// One `/`-separated component breaks the component grammar (this includes the
    /// empty component of `a//b` or a trailing `/`).
    InvalidNameComponent {
        /// The offending component, escaped and truncated for safe display.
        component: String,
    },
    /// The tag breaks `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    InvalidTag {
        /// The rejected tag, escaped and truncated for safe display.
        tag: String,
    },
    /// The digest is not `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
    InvalidDigest {
        /// The rejected digest, escaped and truncated for safe display.
        digest: String,
    },
    /// A well-formed digest whose algorithm we do not implement (e.g. `blake3`).
    UnsupportedDigestAlgorithm(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => f.write_str("repository name must not be empty"),
            Self::NameTooLong { len } => {
                write!(f, "repository name must not be more than {NAME_MAX_LEN} characters (got {len})")
            }
            Self::InvalidNameComponent { component } => {
                write!(f, "repository name component \"{component}\" must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*")
            }
            Self::InvalidTag { tag } => {
                write!(f, "tag \"{tag}\" must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")
            }
            Self::InvalidDigest { digest } => {
                write!(f, "digest \"{digest}\" must be sha256:<64 lowercase hex> or sha512:<128 lowercase hex>")
            }
            Self::UnsupportedDigestAlgorithm(alg) => {
                write!(f, "digest algorithm \"{alg}\" is not supported (use sha256 or sha512)")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Makes client input safe to put in an error message: at most 64 characters, with
/// quotes, backslashes, control and non-ASCII characters escaped, so a hostile name can
/// neither split a header line nor break out of the quotes around it.
pub(crate) fn echo(input: &str) -> String {
    let mut out = String::new();
    for (i, c) in input.chars().enumerate() {
        if i == ECHO_MAX_CHARS {
            out.push_str("...");
            break;
        }
        if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// A repository name, e.g. `proxy/acme/library/nginx`.
///
/// ```text
/// name       ::= component ("/" component)*        total length <= 255
/// component  ::= alnum+ (separator alnum+)*
/// alnum      ::= [a-z0-9]
/// separator  ::= "." | "_" | "__" | "-"+
/// ```
///
/// ```
/// use pullgate::reference::Name;
/// let name: Name = "proxy/acme/library/nginx".parse().unwrap();
/// assert_eq!(name.as_str(), "proxy/acme/library/nginx");
/// assert!("proxy/../etc".parse::<Name>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// The name exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated components, in order; every one is non-empty.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// `alnum ::= [a-z0-9]`
fn is_name_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `component ::= alnum+ (separator alnum+)*` with `separator ::= "." | "_" | "__" | "-"+`.
pub(crate) fn is_name_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < bytes.len() && is_name_alnum(bytes[i]) {
            i += 1;
        }
        if i == run_start {
            // Empty component, or a separator at the start, end or next to another one.
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

impl FromStr for Name {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ParseError::EmptyName);
        }
        if s.len() > NAME_MAX_LEN {
            return Err(ParseError::NameTooLong { len: s.len() });
        }
        if let Some(bad) = s.split('/').find(|c| !is_name_component(c)) {
            return Err(ParseError::InvalidNameComponent { component: echo(bad) });
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<&str> for Name {
    type Error = ParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The tag exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let first_ok = matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric() || *b == b'_');
        let rest_ok = bytes.iter().skip(1).all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !first_ok || !rest_ok || bytes.len() > TAG_MAX_LEN {
            return Err(ParseError::InvalidTag { tag: echo(s) });
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<&str> for Tag {
    type Error = ParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A digest algorithm we can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `sha256`, 64 hex characters.
    Sha256,
    /// `sha512`, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// The registered algorithm identifier, as it appears before the `:`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded value.
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A content digest such as `sha256:e3b0c442...`.
///
/// ```text
/// digest     ::= algorithm ":" encoded
/// algorithm  ::= component (separator component)*     component ::= [a-z0-9]+
/// separator  ::= [+._-]
/// sha256     ::= "sha256:" [a-f0-9]{64}
/// sha512     ::= "sha512:" [a-f0-9]{128}
/// ```
///
/// Only sha256 and sha512 are accepted; other well-formed algorithms get their own error
/// so a client hears "unsupported" rather than "malformed".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The digest of `bytes` under `algorithm`.
    pub fn of_bytes(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let hex = match algorithm {
            Algorithm::Sha256 => crate::keys::hex_encode(&Sha256::digest(bytes)),
            Algorithm::Sha512 => crate::keys::hex_encode(&Sha512::digest(bytes)),
        };
        Digest { algorithm, hex }
    }

    /// Whether `bytes` hash to this digest. Digests are public, so no constant-time compare.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::of_bytes(self.algorithm, bytes) == *self
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part, without the `algorithm:` prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// `algorithm ::= [a-z0-9]+ ([+._-] [a-z0-9]+)*`
fn is_algorithm_grammar(s: &str) -> bool {
    !s.is_empty() && s.split(['+', '.', '_', '-']).all(|part| !part.is_empty() && part.bytes().all(is_name_alnum))
}

impl FromStr for Digest {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::InvalidDigest { digest: echo(s) };
        let (alg, hex) = s.split_once(':').ok_or_else(invalid)?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other if is_algorithm_grammar(other) => {
                return Err(ParseError::UnsupportedDigestAlgorithm(echo(other)));
            }
            _ => return Err(invalid()),
        };
        // Uppercase hex is rejected: the spec forbids it, and accepting it would give one
        // blob two spellings (two cache keys, two upstream URLs).
        let hex_ok =
            hex.len() == algorithm.hex_len() && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(invalid());
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }
}

impl TryFrom<&str> for Digest {
    type Error = ParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// The `<reference>` of `/v2/<name>/manifests/<reference>`: a tag or a digest.
///
/// A `:` can never occur in a tag, so its presence decides which one is meant.
///
/// ```
/// use pullgate::reference::Reference;
/// assert!(matches!("latest".parse(), Ok(Reference::Tag(_))));
/// let by_digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// assert!(matches!(by_digest.parse(), Ok(Reference::Digest(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A mutable tag such as `latest`.
    Tag(Tag),
    /// An immutable content digest.
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(Reference::Digest)
        } else {
            s.parse().map(Reference::Tag)
        }
    }
}

impl TryFrom<&str> for Reference {
    type Error = ParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(tag) => tag.fmt(f),
            Self::Digest(digest) => digest.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const SHA512_EMPTY: &str = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    #[test]
    fn parses_good_names() {
        let long_255 = format!("{}/{}", "a".repeat(127), "b".repeat(127));
        for input in [
            "a",
            "0",
            "nginx",
            "library/nginx",
            "proxy/acme/ghcr.io/org/app",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a-----b",
            "a.b_c__d-e--f",
            "foo/bar/baz/qux",
            "9to5/v1.2",
            long_255.as_str(),
        ] {
            let name: Name = input.parse().unwrap_or_else(|e| panic!("{input:?} rejected: {e}"));
            assert_eq!(name.as_str(), input);
            assert_eq!(name.to_string(), input);
        }
        assert_eq!(long_255.len(), 255);
    }

    #[test]
    fn rejects_bad_names() {
        let long_256 = format!("{}/{}", "a".repeat(128), "b".repeat(127));
        assert_eq!(long_256.len(), 256);
        let comp = |c: &str| ParseError::InvalidNameComponent { component: c.to_owned() };
        let cases: Vec<(&str, ParseError)> = vec![
            ("", ParseError::EmptyName),
            (long_256.as_str(), ParseError::NameTooLong { len: 256 }),
            ("A", comp("A")),
            ("Foo/bar", comp("Foo")),
            ("..", comp("..")),
            ("proxy/../etc", comp("..")),
            ("a/./b", comp(".")),
            ("a%2Fb", comp("a%2Fb")),
            ("a//b", comp("")),
            ("a/", comp("")),
            ("/a", comp("")),
            ("a___b", comp("a___b")),
            ("a_-b", comp("a_-b")),
            ("a.-b", comp("a.-b")),
            ("a..b", comp("a..b")),
            ("-a", comp("-a")),
            ("a-", comp("a-")),
            ("a.", comp("a.")),
            ("_a", comp("_a")),
            ("a:5000/b", comp("a:5000")),
            ("a b", comp("a b")),
            ("a\r\nb", comp("a\\r\\nb")),
            ("caf\u{e9}", comp("caf\\u{e9}")),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Name>(), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn parses_good_tags() {
        let longest = format!("a{}", "b".repeat(TAG_MAX_LEN - 1));
        for input in ["latest", "v1.2.3", "_x", "1", "A-b_C.d", "9", longest.as_str()] {
            let tag: Tag = input.parse().unwrap_or_else(|e| panic!("{input:?} rejected: {e}"));
            assert_eq!(tag.to_string(), input);
        }
    }

    #[test]
    fn rejects_bad_tags() {
        let too_long = "a".repeat(TAG_MAX_LEN + 1);
        for input in ["", ".hidden", "-x", "a/b", "a:b", "a b", "a+b", "tag\n", "t\u{e4}g", too_long.as_str()] {
            let want = ParseError::InvalidTag { tag: echo(input) };
            assert_eq!(input.parse::<Tag>(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn parses_good_digests() {
        for (input, alg) in [(SHA256_EMPTY, Algorithm::Sha256), (SHA512_EMPTY, Algorithm::Sha512)] {
            let digest: Digest = input.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(digest.algorithm(), alg);
            assert_eq!(digest.hex().len(), alg.hex_len());
            assert_eq!(digest.to_string(), input);
        }
    }

    #[test]
    fn rejects_bad_digests() {
        let upper = SHA256_EMPTY.to_ascii_uppercase().replacen("SHA256", "sha256", 1);
        let short = &SHA256_EMPTY[..SHA256_EMPTY.len() - 1];
        let long = format!("{SHA256_EMPTY}0");
        let sha512_with_256_len = SHA256_EMPTY.replacen("sha256", "sha512", 1);
        let bad = |d: &str| ParseError::InvalidDigest { digest: echo(d) };
        let cases: Vec<(&str, ParseError)> = vec![
            ("", bad("")),
            ("sha256", bad("sha256")),
            ("sha256:", bad("sha256:")),
            (":abc", bad(":abc")),
            (upper.as_str(), bad(&upper)),
            (short, bad(short)),
            (long.as_str(), bad(&long)),
            (sha512_with_256_len.as_str(), bad(&sha512_with_256_len)),
            ("SHA256:abc", bad("SHA256:abc")),
            ("sha256:zz", bad("sha256:zz")),
            ("sha-:abc", bad("sha-:abc")),
            ("blake3:abc", ParseError::UnsupportedDigestAlgorithm("blake3".to_owned())),
            ("multihash+base58:abc", ParseError::UnsupportedDigestAlgorithm("multihash+base58".to_owned())),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Digest>(), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn computes_known_digests() {
        let cases = [
            (Algorithm::Sha256, &b""[..], SHA256_EMPTY),
            (Algorithm::Sha512, &b""[..], SHA512_EMPTY),
            (Algorithm::Sha256, &b"abc"[..], "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ];
        for (alg, bytes, want) in cases {
            let digest = Digest::of_bytes(alg, bytes);
            assert_eq!(digest.to_string(), want);
            assert!(digest.matches(bytes));
            assert!(!digest.matches(b"something else"));
        }
    }

    #[test]
    fn parses_good_references() {
        assert_eq!("latest".parse::<Reference>(), Ok(Reference::Tag(Tag("latest".to_owned()))));
        let by_digest: Reference = SHA512_EMPTY.parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&by_digest, Reference::Digest(d) if d.algorithm() == Algorithm::Sha512));
        assert_eq!(by_digest.to_string(), SHA512_EMPTY);
    }

    #[test]
    fn rejects_bad_references() {
        for (input, want) in [
            ("", ParseError::InvalidTag { tag: String::new() }),
            ("bad/tag", ParseError::InvalidTag { tag: "bad/tag".to_owned() }),
            ("sha256:XYZ", ParseError::InvalidDigest { digest: "sha256:XYZ".to_owned() }),
            ("md5:abc", ParseError::UnsupportedDigestAlgorithm("md5".to_owned())),
        ] {
            assert_eq!(input.parse::<Reference>(), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn error_messages_are_readable_and_single_line() {
        let err = "Foo".parse::<Name>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"repository name component "Foo" must match [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"#)
        );
        let tag = "v1 .0".parse::<Tag>().err().map(|e| e.to_string());
        assert_eq!(tag.as_deref(), Some(r#"tag "v1 .0" must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"#));
        let digest = SHA256_EMPTY.to_ascii_uppercase();
        let msg = digest.parse::<Digest>().err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some(
                "digest \"SHA256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7...\" \
                 must be sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
            )
        );
        let hostile = format!("\"\r\nSet-Cookie: x{}", "y".repeat(200));
        let msg = hostile.parse::<Name>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!msg.contains('\r') && !msg.contains('\n'), "{msg}");
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains("\\\"\\r\\nSet-Cookie"), "{msg}");
        let alg = format!("x{}:00", "a".repeat(100));
        let msg = alg.parse::<Digest>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("...") && msg.len() < 160, "{msg}");
    }
}
