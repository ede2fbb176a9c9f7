//! Runs every case of the AWS SigV4 test suite in `tests/vectors/aws-sigv4` through
//! `pullgate::sigv4`, checking each stage of header and query signing against the expected files.
//!
//! Layout of a case (AWS Common Runtime suite, as carried by smithy-rs): `context.json`,
//! `request.txt` (raw HTTP, LF line endings) and, for `header` and `query` signing,
//! `*-canonical-request.txt`, `*-string-to-sign.txt`, `*-signature.txt` (no trailing
//! newline) and `*-signed-request.txt` (request line, headers, blank line, body).
//!
//! Each stage is fed the *expected* output of the stage before it, so a failure points at
//! one stage instead of cascading; `sign`/`presign` then check the whole chain end to end.
//! Three directories are irregular and handled explicitly below, each with the reason; a
//! directory that is neither regular nor one of those fails the test.

use std::fs;
use std::path::{Path, PathBuf};

use pullgate::sigv4::{self, Credentials, Settings, SignableRequest, SignatureLocation, SigningParams};
use serde::Deserialize;

const SUITE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/aws-sigv4");

/// `context.json`. Unknown keys fail the parse: a new signing option in a future vector
/// must be implemented, not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Context {
    credentials: ContextCredentials,
    expiration_in_seconds: u64,
    normalize: bool,
    region: String,
    service: String,
    sign_body: bool,
    timestamp: String,
    #[serde(default)]
    omit_session_token: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
}

/// A raw HTTP/1.1 request as the suite writes it. Header values are kept verbatim
/// (leading spaces, folded continuation lines) so a request can be written back
/// byte for byte.
#[derive(Debug, Clone, PartialEq)]
struct RawRequest {
    method: String,
    target: String,
    version: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_raw(bytes: &[u8]) -> RawRequest {
    let (head, body) = match bytes.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&bytes[..at], &bytes[at + 2..]),
        None => (bytes.strip_suffix(b"\n").unwrap_or(bytes), &b""[..]),
    };
    let head = std::str::from_utf8(head).expect("request head is UTF-8");
    let mut lines = head.split('\n');
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method SP target");
    // The target may itself contain spaces (get-space-*), so the version is split off
    // from the right, and only if it looks like one.
    let (target, version) = match rest.rsplit_once(' ') {
        Some((target, version)) if version.starts_with("HTTP/") => (target, Some(version)),
        _ => (rest, None),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // obs-fold continuation line (get-header-value-multiline).
            let last = headers.last_mut().expect("continuation follows a header");
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("name:value");
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    RawRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.map(str::to_owned),
        headers,
        body: body.to_vec(),
    }
}

fn render(req: &RawRequest) -> Vec<u8> {
    let mut out = format!("{} {}", req.method, req.target);
    if let Some(version) = &req.version {
        out.push(' ');
        out.push_str(version);
    }
    out.push('\n');
    for (name, value) in &req.headers {
        out.push_str(&format!("{name}:{value}\n"));
    }
    out.push('\n');
    let mut out = out.into_bytes();
    out.extend_from_slice(&req.body);
    out
}

fn signable(req: &RawRequest) -> SignableRequest {
    SignableRequest {
        method: req.method.clone(),
        uri: req.target.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
    }
}

/// Applies `sign`'s output the way its docs say: replace same-named headers, else append.
fn with_headers(req: &RawRequest, added: &[(&'static str, String)]) -> RawRequest {
    let mut out = req.clone();
    for (name, value) in added {
        match out.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(existing) => existing.1.clone_from(value),
            None => out.headers.push(((*name).to_owned(), value.clone())),
        }
    }
    out
}

/// Header-order-insensitive comparison for the two hand-written signed requests whose
/// layout no signer reproduces (see their cases): same method, target, version (when the
/// expected file has one), body, and the same multiset of (lowercased name, OWS-trimmed
/// value).
fn same_request(got: &RawRequest, want: &RawRequest) -> Result<(), String> {
    let fields = |r: &RawRequest| {
        let mut h: Vec<(String, String)> =
            r.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.trim_matches([' ', '\t']).to_owned())).collect();
        h.sort();
        h
    };
    let version_ok = want.version.is_none() || want.version == got.version;
    if got.method == want.method
        && got.target == want.target
        && version_ok
        && got.body == want.body
        && fields(got) == fields(want)
    {
        Ok(())
    } else {
        Err(format!("got {got:#?}\nwant {want:#?}"))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` to unix seconds.
fn parse_timestamp(s: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| -> i64 {
        s.get(range).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad timestamp {s:?}"))
    };
    assert!(s.len() == 20 && s.ends_with('Z'), "bad timestamp {s:?}");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// Collects every mismatch so one run reports all of them.
#[derive(Default)]
struct Report {
    checks: usize,
    failures: Vec<String>,
}

impl Report {
    fn bytes(&mut self, case: &str, what: &str, got: &[u8], want: &[u8]) {
        self.checks += 1;
        if got != want {
            self.failures.push(format!(
                "{case}: {what} differs\n--- got ---\n{}\n--- want ---\n{}",
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(want)
            ));
        }
    }

    fn result<T>(&mut self, case: &str, what: &str, r: Result<T, sigv4::SignError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.checks += 1;
                self.failures.push(format!("{case}: {what} failed: {e}"));
                None
            }
        }
    }

    fn check(&mut self, case: &str, what: &str, r: Result<(), String>) {
        self.checks += 1;
        if let Err(e) = r {
            self.failures.push(format!("{case}: {what}: {e}"));
        }
    }
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(SUITE_DIR)
        .unwrap_or_else(|e| panic!("{SUITE_DIR}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_case_matches_every_stage() {
    let dirs = case_dirs();
    assert!(!dirs.is_empty(), "no cases found under {SUITE_DIR}");
    let mut report = Report::default();
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("UTF-8 case name");
        match name {
            "double-encode-path" => double_encode_path(dir, &mut report),
            "double-url-encode" => double_url_encode(dir, &mut report),
            _ => regular_case(name, dir, &mut report),
        }
    }
    assert!(
        report.failures.is_empty(),
        "{} of {} checks failed across {} cases:\n\n{}",
        report.failures.len(),
        report.checks,
        dirs.len(),
        report.failures.join("\n\n")
    );
    eprintln!("{} checks passed across {} cases", report.checks, dirs.len());
}

/// get-space-normalized: the smithy-rs copy rewrote `request.txt` from aws-c-auth's
/// `GET /example space/ HTTP/1.1` to `GET /example%20space/ HTTP/1.1` (its parser rejects
/// a raw space) but kept aws-c-auth's expected files, which were made from the raw-space
/// request: the signed requests still start `GET /example space/`. The stored input and
/// outputs therefore disagree under any single rule: with the double encoding that
/// double-encode-path and double-url-encode pin down, `%20` must become `%2520`, and
/// smithy-rs marks this case `#[ignore]` for exactly that reason. We verify the expected
/// files against the upstream input, and pin what the stored input does sign as, so
/// restoring the upstream file (recommended) or any other edit is noticed.
const GET_SPACE_NORMALIZED_STORED: &[u8] = b"GET /example%20space/ HTTP/1.1\nHost:example.amazonaws.com\n";
const GET_SPACE_NORMALIZED_UPSTREAM: &[u8] = b"GET /example space/ HTTP/1.1\nHost:example.amazonaws.com\n";

fn regular_case(name: &str, dir: &Path, report: &mut Report) {
    if !dir.join("context.json").exists() {
        report.checks += 1;
        report
            .failures
            .push(format!("{name}: no context.json and no documented special handling; add one or the other"));
        return;
    }
    let ctx: Context = match serde_json::from_slice(&read(dir, "context.json")) {
        Ok(ctx) => ctx,
        Err(e) => {
            report.checks += 1;
            report.failures.push(format!("{name}: context.json: {e}"));
            return;
        }
    };
    let credentials = Credentials {
        access_key_id: ctx.credentials.access_key_id,
        secret_access_key: ctx.credentials.secret_access_key,
        session_token: ctx.credentials.token,
    };
    let params = SigningParams {
        credentials: &credentials,
        region: &ctx.region,
        service: &ctx.service,
        time_unix: parse_timestamp(&ctx.timestamp),
        settings: Settings {
            normalize_path: ctx.normalize,
            // Every suite case signs for a non-S3 service ("service").
            double_encode_path: true,
            omit_session_token: ctx.omit_session_token,
            content_sha256_header: ctx.sign_body,
            expires_in: ctx.expiration_in_seconds,
        },
    };

    let mut request_bytes = read(dir, "request.txt");
    if name == "get-space-normalized" {
        if request_bytes == GET_SPACE_NORMALIZED_STORED {
            let stored = signable(&parse_raw(&request_bytes));
            let creq = sigv4::canonical_request(&stored, &params, SignatureLocation::Headers);
            report.check(
                name,
                "stored %20 input is double-encoded",
                match creq {
                    Ok(c) if c.contains("\n/example%2520space/\n") => Ok(()),
                    other => Err(format!("{other:?}")),
                },
            );
            request_bytes = GET_SPACE_NORMALIZED_UPSTREAM.to_vec();
        } else if request_bytes != GET_SPACE_NORMALIZED_UPSTREAM {
            report.checks += 1;
            report.failures.push(format!(
                "{name}: request.txt is neither the known smithy-rs edit nor the aws-c-auth \
                 original; re-check the erratum above"
            ));
            return;
        }
    }
    let raw = parse_raw(&request_bytes);
    let req = signable(&raw);

    for (location, prefix) in [(SignatureLocation::Headers, "header"), (SignatureLocation::Query, "query")] {
        let file = |stage: &str| format!("{prefix}-{stage}.txt");
        let want_creq = read(dir, &file("canonical-request"));
        let want_sts = read(dir, &file("string-to-sign"));
        let want_sig = read(dir, &file("signature"));
        let want_signed = read(dir, &file("signed-request"));
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("expected file is UTF-8");

        let creq = sigv4::canonical_request(&req, &params, location);
        if let Some(creq) = report.result(name, &file("canonical-request"), creq) {
            report.bytes(name, &file("canonical-request"), creq.as_bytes(), &want_creq);
        }
        let sts = sigv4::string_to_sign(&text(&want_creq), &params);
        if let Some(sts) = report.result(name, &file("string-to-sign"), sts) {
            report.bytes(name, &file("string-to-sign"), sts.as_bytes(), &want_sts);
        }
        let sig = sigv4::signature(&text(&want_sts), &params);
        if let Some(sig) = report.result(name, &file("signature"), sig) {
            report.bytes(name, &file("signature"), sig.as_bytes(), &want_sig);
        }
        let (signature, signed) = match location {
            SignatureLocation::Headers => {
                let Some(out) = report.result(name, "sign", sigv4::sign(&req, &params)) else {
                    continue;
                };
                (out.signature, with_headers(&raw, &out.headers))
            }
            SignatureLocation::Query => {
                let Some(out) = report.result(name, "presign", sigv4::presign(&req, &params)) else {
                    continue;
                };
                let signed = RawRequest { target: out.uri, ..raw.clone() };
                (out.signature, signed)
            }
        };
        report.bytes(name, &format!("{prefix} end-to-end signature"), signature.as_bytes(), &want_sig);
        report.bytes(name, &file("signed-request"), &render(&signed), &want_signed);
    }
}

/// The secret smithy-rs's `Credentials::for_tests()` uses with access key `ANOTREAL`.
const SMITHY_TEST_SECRET: &str = "notrealrnrELgWzOk3IfjzDKtFBhDby";

/// double-encode-path has no context.json: smithy-rs added it and drives it from two unit
/// tests with hard-coded parameters, reproduced here.
/// - `header-canonical-request.txt` comes from `canonical_request.rs`
///   `test_double_url_encode_path`: time 2021-05-11T15:40:45Z (which also replaces the
///   request's stale `X-amz-date`), default settings; region and service do not enter a
///   canonical request.
/// - `header-signed-request.txt` comes from `sign.rs` `test_sign_url_escape`: credentials
///   ANOTREAL, region us-east-1, service `service`, time 2015-08-30T12:36:00Z. Its header
///   order (X-amz-date, Authorization, Host) is not one any signer produces from this
///   request, and smithy-rs compares it as a header map, so it is compared the same way
///   here. Its `Signature=` is the only expected signature of the case.
fn double_encode_path(dir: &Path, report: &mut Report) {
    let name = "double-encode-path";
    let credentials = Credentials {
        access_key_id: "ANOTREAL".to_owned(),
        secret_access_key: SMITHY_TEST_SECRET.to_owned(),
        session_token: None,
    };
    let params = |region, service, time| SigningParams {
        credentials: &credentials,
        region,
        service,
        time_unix: parse_timestamp(time),
        settings: Settings::default(),
    };
    let raw = parse_raw(&read(dir, "request.txt"));
    let req = signable(&raw);

    let creq_params = params("test-region", "testservicename", "2021-05-11T15:40:45Z");
    let creq = sigv4::canonical_request(&req, &creq_params, SignatureLocation::Headers);
    if let Some(creq) = report.result(name, "header-canonical-request.txt", creq) {
        report.bytes(name, "header-canonical-request.txt", creq.as_bytes(), &read(dir, "header-canonical-request.txt"));
    }

    let sign_params = params("us-east-1", "service", "2015-08-30T12:36:00Z");
    if let Some(out) = report.result(name, "sign", sigv4::sign(&req, &sign_params)) {
        let want = parse_raw(&read(dir, "header-signed-request.txt"));
        report.check(name, "header-signed-request.txt", same_request(&with_headers(&raw, &out.headers), &want));
        report.bytes(
            name,
            "signature",
            out.signature.as_bytes(),
            b"57d157672191bac40bae387e48bbe14b15303c001fdbb01f4abf295dccb09705",
        );
    }
}

/// double-url-encode has no context.json either; smithy-rs only checks its canonical
/// request (`test_double_url_encode`). The rest is consistent with the suite's standard
/// credentials (AKIDEXAMPLE), region us-east-2, service `lambda` and time
/// 2021-05-11T15:40:45Z, all read off its string-to-sign and `Authorization` header.
/// Its files are hand-written: `header-string-to-sign.txt` alone in the suite ends with
/// a newline (compared with exactly that one newline appended), and
/// `header-signed-request.txt` has no HTTP version and a space after `Authorization:`,
/// so it is compared header-order- and whitespace-insensitively.
fn double_url_encode(dir: &Path, report: &mut Report) {
    let name = "double-url-encode";
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
        session_token: None,
    };
    let params = SigningParams {
        credentials: &credentials,
        region: "us-east-2",
        service: "lambda",
        time_unix: parse_timestamp("2021-05-11T15:40:45Z"),
        settings: Settings::default(),
    };
    let raw = parse_raw(&read(dir, "request.txt"));
    let req = signable(&raw);
    let want_creq = read(dir, "header-canonical-request.txt");

    let creq = sigv4::canonical_request(&req, &params, SignatureLocation::Headers);
    if let Some(creq) = report.result(name, "header-canonical-request.txt", creq) {
        report.bytes(name, "header-canonical-request.txt", creq.as_bytes(), &want_creq);
    }
    let creq_text = String::from_utf8(want_creq).expect("UTF-8");
    if let Some(sts) = report.result(name, "string-to-sign", sigv4::string_to_sign(&creq_text, &params)) {
        let with_newline = format!("{sts}\n");
        report.bytes(
            name,
            "header-string-to-sign.txt",
            with_newline.as_bytes(),
            &read(dir, "header-string-to-sign.txt"),
        );
    }
    if let Some(out) = report.result(name, "sign", sigv4::sign(&req, &params)) {
        let want = parse_raw(&read(dir, "header-signed-request.txt"));
        report.check(name, "header-signed-request.txt", same_request(&with_headers(&raw, &out.headers), &want));
    }
}

#[test]
fn raw_request_parser_round_trips_suite_requests() {
    let cases: [(&[u8], RawRequest); 3] = [
        (
            b"GET /example space/ HTTP/1.1\nHost:h\nMy-Header1: v1\n  v2\n",
            RawRequest {
                method: "GET".to_owned(),
                target: "/example space/".to_owned(),
                version: Some("HTTP/1.1".to_owned()),
                headers: vec![("Host".to_owned(), "h".to_owned()), ("My-Header1".to_owned(), " v1\n  v2".to_owned())],
                body: Vec::new(),
            },
        ),
        (
            b"POST / HTTP/1.1\nContent-Length:13\n\nParam1=value1",
            RawRequest {
                method: "POST".to_owned(),
                target: "/".to_owned(),
                version: Some("HTTP/1.1".to_owned()),
                headers: vec![("Content-Length".to_owned(), "13".to_owned())],
                body: b"Param1=value1".to_vec(),
            },
        ),
        (
            b"POST /a%3Ab\nAuthorization: x\n",
            RawRequest {
                method: "POST".to_owned(),
                target: "/a%3Ab".to_owned(),
                version: None,
                headers: vec![("Authorization".to_owned(), " x".to_owned())],
                body: Vec::new(),
            },
        ),
    ];
    for (bytes, want) in cases {
        let got = parse_raw(bytes);
        assert_eq!(got, want);
        // Rendering adds the blank line that ends the head; parsing that gives the same.
        assert_eq!(parse_raw(&render(&got)), want);
    }
    assert_eq!(parse_timestamp("2015-08-30T12:36:00Z"), 1_440_938_160);
    assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), 0);
    assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), 951_782_400);
}
