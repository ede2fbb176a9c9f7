//! Unit tests of the SigV4 signer: stages, options, RFC 4231 and documented examples.
use super::*;
use SignatureLocation::{Headers, Query};

const RFC4231_6_DATA: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";
const RFC4231_7_DATA: &[u8] = b"This is a test using a larger than block-size key and a \
    larger than block-size data. The key needs to be hashed before being used by the HMAC \
    algorithm.";

/// RFC 4231 HMAC-SHA256 test cases 1-4, 6 and 7 as (key, data, MAC); case 5 tests
/// truncated output, which SigV4 never uses.
fn rfc4231_cases() -> Vec<(Vec<u8>, &'static [u8], &'static str)> {
    vec![
        (vec![0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (vec![0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ((1..=25).collect(), &[0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (vec![0xaa; 131], RFC4231_6_DATA, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (vec![0xaa; 131], RFC4231_7_DATA, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]
}

#[test]
fn hmac_crate_passes_rfc4231() {
    for (key, data, want) in rfc4231_cases() {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key);
        let mut mac = mac.unwrap_or_else(|e| panic!("{e}"));
        // Two updates exercise the streaming path.
        let (a, b) = data.split_at(data.len() / 2);
        mac.update(a);
        mac.update(b);
        assert_eq!(hex(&mac.finalize().into_bytes()), want);
    }
}

#[test]
fn block_padded_hmac_passes_rfc4231() {
    for (key, data, want) in rfc4231_cases() {
        assert_eq!(hex(&hmac_sha256(&key, data)), want, "key of {}", key.len());
    }
}

#[test]
fn derives_documented_signing_key() {
    // The IAM docs' example of deriving kSigning.
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let key = hex(&signing_key(secret, "20120215", "us-east-1", "iam"));
    assert_eq!(key, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

#[test]
fn formats_good_times() {
    for (t, want) in [
        (0, "19700101T000000Z"),
        (1_440_938_160, "20150830T123600Z"),
        (1_620_747_645, "20210511T154045Z"),
        (951_782_400, "20000229T000000Z"),
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        (4_107_542_399, "21000228T235959Z"),
        (4_107_542_400, "21000301T000000Z"),
        (-1, "19691231T235959Z"),
        (-62_167_219_200, "00000101T000000Z"),
        (253_402_300_799, "99991231T235959Z"),
    ] {
        assert_eq!(amz_date(t).as_deref(), Ok(want), "t = {t}");
    }
}

#[test]
fn rejects_unrepresentable_times() {
    for t in [-62_167_219_201, 253_402_300_800, i64::MIN, i64::MAX] {
        assert_eq!(amz_date(t), Err(SignError::TimeOutOfRange(t)));
    }
}

#[test]
fn normalizes_paths() {
    for (input, want) in [
        ("/", "/"),
        ("//", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("/./", "/"),
        ("/./a", "/a"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/a/b/../c", "/a/c"),
        ("/a/b/../..", "/"),
        ("/../../a", "/a"),
        ("//a//b//", "/a/b/"),
        ("/a/.../b", "/a/.../b"),
        ("/a/%2E%2E/b", "/a/%2E%2E/b"),
    ] {
        assert_eq!(normalize_path(input), want, "input {input:?}");
    }
}

#[test]
fn encodes_paths_per_mode() {
    let mode =
        |normalize_path, double_encode_path| Settings { normalize_path, double_encode_path, ..Settings::default() };
    for (path, settings, want) in [
        ("", mode(true, true), "/"),
        ("/a b/\u{1234}", mode(true, true), "/a%20b/%E1%88%B4"),
        ("/a%3Db/@", mode(true, true), "/a%253Db/%40"),
        ("/a%3Db/@", mode(false, false), "/a%3Db/%40"),
        ("/a%20b//c", mode(false, false), "/a%20b//c"),
        ("/a%2fb", mode(false, false), "/a/b"),
        ("/a%zz", mode(false, false), "/a%25zz"),
        ("/-._~AZaz09", mode(false, true), "/-._~AZaz09"),
    ] {
        assert_eq!(canonical_path(path, &settings), want, "path {path:?}");
    }
}

#[test]
fn canonicalizes_queries() {
    for (query, want) in [
        ("", ""),
        ("&&", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1&a", "a=&a=1&a=2"),
        ("k=v=w", "k=v%3Dw"),
        ("sp=a%20b&plus=a+b", "plus=a%2Bb&sp=a%20b"),
        ("%e1%88%b4=x", "%E1%88%B4=x"),
        ("bad=%zz", "bad=%25zz"),
        ("t=~-._", "t=~-._"),
    ] {
        assert_eq!(canonical_query(query, &[]), want, "query {query:?}");
    }
}

#[test]
fn canonicalizes_good_header_values() {
    for (raw, want) in [
        ("v", "v"),
        ("  a   b  ", "a b"),
        ("\ta\t\tb\t", "a\t\tb"),
        ("value1\n  value2\n     value3", "value1 value2 value3"),
        ("a\r\n\tb", "a b"),
        ("\"a   b   c\"", "\"a b c\""),
        ("", ""),
        ("caf\u{e9}", "caf\u{e9}"),
    ] {
        assert_eq!(canonical_value(raw).as_deref(), Some(want), "raw {raw:?}");
    }
}

#[test]
fn rejects_bad_header_values() {
    for raw in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\r", "a\0b", "a\u{7f}", "a\n"] {
        assert_eq!(canonical_value(raw), None, "raw {raw:?}");
    }
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
        session_token: None,
    }
}

fn params<'a>(credentials: &'a Credentials, service: &'a str) -> SigningParams<'a> {
    SigningParams { credentials, region: "us-east-1", service, time_unix: 1_440_938_160, settings: Settings::default() }
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> SignableRequest {
    SignableRequest {
        method: method.to_owned(),
        uri: uri.to_owned(),
        headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        body: Vec::new(),
    }
}

fn header<'a>(signed: &'a Signed, name: &str) -> &'a str {
    let found = signed.headers.iter().find(|(n, _)| *n == name);
    found.map(|(_, v)| v.as_str()).unwrap_or_default()
}

#[test]
fn signs_documented_s3_example() {
    // "Example: GET Object" from the S3 SigV4 docs: single encoding, no normalization,
    // x-amz-content-sha256 signed; a known answer from outside the CRT suite.
    let creds = Credentials { secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(), ..creds() };
    let mut params = params(&creds, "s3");
    params.time_unix = 1_369_353_600;
    params.settings.normalize_path = false;
    params.settings.double_encode_path = false;
    params.settings.content_sha256_header = true;
    let host = ("Host", "examplebucket.s3.amazonaws.com");
    let req = request("GET", "/test.txt", &[host, ("Range", "bytes=0-9")]);
    let signed = sign(&req, &params).unwrap_or_else(|e| panic!("{e}"));
    let want = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    assert_eq!(signed.signature, want);
    let names: Vec<&str> = signed.headers.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["X-Amz-Date", "x-amz-content-sha256", "Authorization"]);
}

#[test]
fn signs_an_ecr_call_with_session_token() {
    let creds = Credentials { session_token: Some("FwoGZXIvYXdzEXAMPLE".to_owned()), ..creds() };
    let mut params = params(&creds, "ecr");
    params.time_unix = 1_700_000_000;
    let target = "AmazonEC2ContainerRegistry_V20151121.GetAuthorizationToken";
    let mut req = request(
        "POST",
        "/",
        &[
            ("Host", "api.ecr.us-east-1.amazonaws.com"),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target),
            ("User-Agent", "pullgate"),
        ],
    );
    req.body = b"{}".to_vec();
    let signed = sign(&req, &params).unwrap_or_else(|e| panic!("{e}"));
    let auth = header(&signed, "Authorization");
    let want = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/ecr/aws4_request, \
        SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
        Signature=";
    assert!(auth.starts_with(want), "{auth}");
    assert_eq!(header(&signed, "X-Amz-Security-Token"), "FwoGZXIvYXdzEXAMPLE");
    assert_eq!(header(&signed, "X-Amz-Date"), "20231114T221320Z");
    // Deterministic: the same inputs give the same signature.
    assert_eq!(sign(&req, &params).map(|s| s.signature), Ok(signed.signature));
}

#[test]
fn presign_appends_to_existing_query() {
    let creds = creds();
    let mut params = params(&creds, "service");
    params.settings.expires_in = 60;
    for (uri, prefix) in
        [("/", "/?X-Amz-Algorithm="), ("/?", "/?X-Amz-Algorithm="), ("/?a=1", "/?a=1&X-Amz-Algorithm=")]
    {
        let req = request("GET", uri, &[("Host", "h")]);
        let presigned = presign(&req, &params).unwrap_or_else(|e| panic!("{e}"));
        let uri = presigned.uri.as_str();
        assert!(uri.starts_with(prefix), "{uri}");
        assert!(uri.contains("&X-Amz-Expires=60&"), "{uri}");
        let tail = format!("&X-Amz-Signature={}", presigned.signature);
        assert!(uri.ends_with(&tail), "{uri}");
    }
}

/// Makes one `field=value` change to a valid request and signs it at `location`;
/// returns the error, after checking `canonical_request` and `sign`/`presign` agree.
fn refusal(change: &str, location: SignatureLocation) -> Option<SignError> {
    let (field, value) = change.split_once('=').unwrap_or((change, ""));
    let mut creds = creds();
    let mut req = request("GET", "/", &[("Host", "h")]);
    let (mut region, mut service, mut time, mut expires) = ("r", "s", 0, 60);
    match field {
        "no-host" => req.headers.clear(),
        "header" => {
            let (n, v) = value.split_once(':').unwrap_or((value, ""));
            req.headers.push((n.to_owned(), v.to_owned()));
        }
        "method" => req.method = value.to_owned(),
        "uri" => req.uri = value.to_owned(),
        "region" => region = value,
        "service" => service = value,
        "key" => creds.access_key_id = value.to_owned(),
        "token" => creds.session_token = Some(value.to_owned()),
        "time" => time = value.parse().unwrap_or_else(|e| panic!("{e}")),
        "expires" => expires = value.parse().unwrap_or_else(|e| panic!("{e}")),
        _ => panic!("unknown field {field}"),
    }
    let settings = Settings { expires_in: expires, ..Settings::default() };
    let params = SigningParams { credentials: &creds, region, service, time_unix: time, settings };
    let staged = canonical_request(&req, &params, location).err();
    let whole = match location {
        Headers => sign(&req, &params).err(),
        Query => presign(&req, &params).err(),
    };
    assert_eq!(staged, whole, "{change:?}");
    whole
}

#[test]
fn signs_the_refusal_baseline() {
    assert_eq!(refusal("region=r", Headers), None);
    assert_eq!(refusal("region=r", Query), None);
    // Header signing ignores the presign lifetime.
    assert_eq!(refusal("expires=0", Headers), None);
}

#[test]
fn refuses_to_sign_bad_input() {
    let value = |name: &str| SignError::InvalidHeaderValue { name: name.to_owned() };
    let name = |name: &str| SignError::InvalidHeaderName(name.to_owned());
    let cases = [
        ("no-host", Headers, SignError::MissingHost),
        ("no-host", Query, SignError::MissingHost),
        ("header=X-A:1\r\nX-B: 2", Headers, value("X-A")),
        ("header=X-A:1\0", Query, value("X-A")),
        ("header=Bad Name:1", Headers, name("Bad Name")),
        ("header=:1", Headers, name("")),
        ("header=X\r\nY:1", Headers, name("X\\r\\nY")),
        ("region=us/east", Headers, SignError::InvalidRegion),
        ("region=", Query, SignError::InvalidRegion),
        ("service=s 3", Headers, SignError::InvalidService),
        ("key=AKID/EXAMPLE", Headers, SignError::InvalidAccessKeyId),
        ("key=", Query, SignError::InvalidAccessKeyId),
        ("token=tok en", Headers, SignError::InvalidSessionToken),
        ("token=", Query, SignError::InvalidSessionToken),
        ("time=9223372036854775807", Headers, SignError::TimeOutOfRange(i64::MAX)),
        ("expires=0", Query, SignError::ExpiresOutOfRange(0)),
        ("expires=604801", Query, SignError::ExpiresOutOfRange(604_801)),
        ("method=GE T", Headers, SignError::InvalidMethod),
        ("method=", Query, SignError::InvalidMethod),
        ("uri=example.com/", Headers, SignError::InvalidUri),
        ("uri=/a\r\nb", Query, SignError::InvalidUri),
    ];
    for (change, location, want) in cases {
        assert_eq!(refusal(change, location), Some(want), "{change:?}");
    }
}

#[test]
fn debug_output_hides_secrets() {
    let creds = Credentials { session_token: Some("TOKENVALUE".to_owned()), ..creds() };
    let params = params(&creds, "ecr");
    let req = request("GET", "/", &[("Host", "h"), ("Authorization", "Basic c2VjcmV0")]);
    let signed = sign(&req, &params).unwrap_or_else(|e| panic!("{e}"));
    let presigned = presign(&req, &params).unwrap_or_else(|e| panic!("{e}"));
    let printed = format!("{creds:?} {params:?} {req:?} {signed:?} {presigned:?}");
    let secrets = ["wJalr", "TOKENVALUE", "c2VjcmV0", &signed.signature, &presigned.signature];
    for secret in secrets {
        assert!(!printed.contains(secret), "{secret} leaked in {printed}");
    }
    assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
}

#[test]
fn error_messages_are_lowercase_single_lines() {
    let errors = [
        SignError::InvalidMethod,
        SignError::InvalidUri,
        SignError::InvalidHeaderName("X\\r\\n".to_owned()),
        SignError::InvalidHeaderValue { name: "x".to_owned() },
        SignError::MissingHost,
        SignError::InvalidRegion,
        SignError::InvalidService,
        SignError::InvalidAccessKeyId,
        SignError::InvalidSessionToken,
        SignError::TimeOutOfRange(-1),
        SignError::ExpiresOutOfRange(0),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
        assert!(!msg.contains('\n') && !msg.ends_with('.'), "{msg}");
    }
}
