//! `pullgate push <oci-layout|dir> <[host/]name:tag>`: uploads an image to the hosted registry
//! (or any OCI registry) in chunks that fit the Workers body limit, skipping blobs the
//! repository has and resuming an interrupted chunked upload.
//!
//! ```text
//! verify every digest on disk → token (push token as Basic password, scope pull,push)
//!   → per blob: HEAD (exists? skip) → small: POST ?digest= with the bytes
//!                                   → large: POST (or the remembered session: GET → Range)
//!                                            → PATCH equal chunks with Content-Range → PUT ?digest=
//!   → PUT child manifests by digest → PUT the top manifest by tag
//! ```

mod chunks;
pub(crate) mod registry;
mod resume;
mod source;

use std::io::Read;
use std::path::Path;

use pullgate::reference::{Name, Reference};
use serde::Serialize;

use super::pull_check::parse_image_ref;
use super::Ctx;
use crate::cli::PushArgs;
use crate::failure::{Failure, Outcome};
use registry::{refused, Body, Registry};
use resume::{Pending, Slot};
use source::Blob;

/// Test hook: exit with a failure after this many chunks were sent, as an interrupted push
/// would (the e2e suite shows the re-run resumes). Never set it otherwise.
pub const STOP_AFTER_CHUNKS_ENV: &str = "PULLGATE_PUSH_STOP_AFTER_CHUNKS";
/// The push token when `--token-stdin` is not given.
pub const TOKEN_ENV: &str = "PULLGATE_PUSH_TOKEN";

/// What happened to one blob.
#[derive(Debug, Serialize)]
struct BlobReport {
    digest: String,
    size: u64,
    /// `skipped` (the repository has it), `uploaded` (one request), `chunked`, or `resumed`.
    action: &'static str,
    /// Bytes the registry already had from an earlier, interrupted run.
    resumed_from: u64,
    /// Bytes sent by this run.
    sent: u64,
    chunks: usize,
}

struct Push {
    registry: Registry,
    chunk: Option<u64>,
    stop_after: Option<usize>,
    chunks_sent: usize,
}

pub fn run(ctx: &Ctx, args: &PushArgs) -> Outcome<()> {
    let (base, name, reference) = target(args)?;
    let tag = match &reference {
        Reference::Tag(t) => t.as_str().to_string(),
        Reference::Digest(_) => String::new(),
    };
    let image = source::read(Path::new(&args.source), &tag).map_err(|e| Failure::usage(e.to_string()))?;
    let top = image.top().cloned().ok_or_else(|| Failure::usage("the source holds no manifest"))?;
    if let Reference::Digest(d) = &reference {
        if *d != top.digest {
            return Err(Failure::usage(format!("the source's manifest is {}, not {d}", top.digest)));
        }
    }
    let token = push_token(args)?;
    let stop_after = std::env::var(STOP_AFTER_CHUNKS_ENV).ok().and_then(|v| v.trim().parse().ok());
    let mut push = Push {
        registry: Registry::new(base, name.to_string(), token),
        chunk: args.chunk_size,
        stop_after,
        chunks_sent: 0,
    };
    push.registry.login()?;

    let mut reports = Vec::new();
    for blob in &image.blobs {
        let report = push.blob(blob)?;
        if !ctx.out.json {
            ctx.out.note(describe(&report));
        }
        reports.push(report);
    }
    for (i, manifest) in image.manifests.iter().enumerate() {
        let is_top = i + 1 == image.manifests.len();
        let reference = if is_top { reference.to_string() } else { manifest.digest.to_string() };
        push.manifest(&reference, manifest)?;
    }

    let sent: u64 = reports.iter().map(|r| r.sent).sum();
    let skipped: u64 = reports.iter().filter(|r| r.action == "skipped").map(|r| r.size).sum();
    let resumed: u64 = reports.iter().map(|r| r.resumed_from).sum();
    let shown = format!("{}/{}:{}", push.registry.base, name, reference);
    let json = serde_json::json!({
        "image": shown, "digest": top.digest.to_string(), "media_type": top.media_type,
        "manifests": image.manifests.len(), "blobs": reports,
        "bytes_sent": sent, "bytes_skipped": skipped, "bytes_resumed": resumed,
    });
    ctx.out.result(&json, || {
        format!(
            "pushed {name}:{reference} ({}): {} manifest(s), {} blob(s); sent {sent} bytes, skipped {skipped} bytes \
             the registry had, resumed past {resumed} bytes",
            top.digest,
            image.manifests.len(),
            reports.len(),
        )
    })
}

fn describe(r: &BlobReport) -> String {
    let what = match r.action {
        "skipped" => "exists, skipped".to_string(),
        "uploaded" => "uploaded in one request".to_string(),
        "resumed" => format!("resumed at byte {}, sent {} bytes in {} chunk(s)", r.resumed_from, r.sent, r.chunks),
        _ => format!("sent {} bytes in {} chunk(s)", r.sent, r.chunks),
    };
    format!("blob {} ({} bytes): {what}", r.digest, r.size)
}

/// The registry base URL, repository name and reference the target names.
fn target(args: &PushArgs) -> Outcome<(String, Name, Reference)> {
    let (base, path) = match &args.registry {
        Some(url) => (super::hosted_admin::registry_base(url)?, args.target.clone()),
        None => {
            let image = parse_image_ref(&args.target)?;
            let hostname = pullgate::access::hostname_of(&image.host);
            let scheme = if args.plain_http || crate::validate::is_loopback(&hostname) { "http" } else { "https" };
            (format!("{scheme}://{}", image.host), format!("{}:{}", image.name, image.reference))
        }
    };
    let bad = |why: String| Failure::usage(format!("target {:?}: {why}", args.target));
    let (name, reference) = match path.split_once('@') {
        Some((n, d)) => (n, d),
        None => match path.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t),
            _ => return Err(bad("needs a tag, as <name>:<tag>".into())),
        },
    };
    let name = name.parse::<Name>().map_err(|e| bad(e.to_string()))?;
    let reference = reference.parse::<Reference>().map_err(|e| bad(e.to_string()))?;
    Ok((base, name, reference))
}

fn push_token(args: &PushArgs) -> Outcome<String> {
    let token = if args.token_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::failed(format!("reading stdin: {e}")))?;
        text
    } else {
        std::env::var(TOKEN_ENV).map_err(|_| {
            Failure::usage("no push token").hint(format!(
                "pass it on stdin with --token-stdin or in {TOKEN_ENV}; issue one with `pullgate push-token issue --app <slug>`"
            ))
        })?
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(Failure::usage("the push token is empty"));
    }
    Ok(token)
}

impl Push {
    fn blob_url(&self, blob: &Blob) -> Outcome<String> {
        self.registry.url(&format!("/v2/{}/blobs/{}", self.registry.name, blob.digest))
    }

    fn uploads_url(&self, query: &str) -> Outcome<String> {
        self.registry.url(&format!("/v2/{}/blobs/uploads/{query}", self.registry.name))
    }

    fn blob(&mut self, blob: &Blob) -> Outcome<BlobReport> {
        let mut report = BlobReport {
            digest: blob.digest.to_string(),
            size: blob.size,
            action: "skipped",
            resumed_from: 0,
            sent: 0,
            chunks: 0,
        };
        let url = self.blob_url(blob)?;
        let head = self.registry.send("HEAD blob", "HEAD", &url, &[], &Body::None)?;
        match head.head.status {
            200 => return Ok(report),
            404 => {}
            _ => return Err(refused(&format!("HEAD blob {}", blob.digest), &head)),
        }
        let slot = Slot::new(&self.registry.base, &self.registry.name, &blob.digest.to_string());
        let small = blob.size <= self.chunk.unwrap_or(chunks::DEFAULT_CHUNK);
        if small && slot.load().is_none() {
            let url = self.uploads_url(&format!("?digest={}", blob.digest))?;
            let body = Body::File { path: &blob.path, offset: 0, length: blob.size };
            let answer =
                self.registry.send("upload", "POST", &url, &[("Content-Type", "application/octet-stream")], &body)?;
            if answer.head.status != 201 {
                return Err(refused(&format!("upload of {}", blob.digest), &answer));
            }
            report.action = "uploaded";
            report.sent = blob.size;
            return Ok(report);
        }
        self.chunked(blob, &slot, &mut report)?;
        Ok(report)
    }

    /// The remembered session where it can go on, else a new one: (location, chunk size, offset).
    fn session(&mut self, blob: &Blob, slot: &Slot) -> Outcome<(String, u64, u64)> {
        if let Some(pending) = slot.load() {
            let location = self.registry.url(&pending.location)?;
            let answer = self.registry.send("upload status", "GET", &location, &[], &Body::None)?;
            if matches!(answer.head.status, 200 | 204) {
                let offset = chunks::resume_offset(answer.head.header("range")).map_err(Failure::failed)?;
                if chunks::resumable(offset, blob.size, pending.chunk) {
                    return Ok((location, pending.chunk, offset));
                }
                // Not on a chunk boundary: the session cannot be continued with equal parts.
                let _ = self.registry.send("cancel upload", "DELETE", &location, &[], &Body::None);
            }
            slot.clear();
        }
        let url = self.uploads_url("")?;
        let answer = self.registry.send("start upload", "POST", &url, &[], &Body::Bytes(&[]))?;
        if answer.head.status != 202 {
            return Err(refused(&format!("start upload of {}", blob.digest), &answer));
        }
        let location = answer
            .head
            .header("location")
            .ok_or_else(|| Failure::failed("start upload: 202 without a Location"))
            .and_then(|l| self.registry.url(l))?;
        let chunk = chunks::chunk_size(self.chunk, chunks::advertised_min(answer.head.header("oci-chunk-min-length")));
        slot.save(&Pending { location: location.clone(), chunk }).map_err(Failure::failed)?;
        Ok((location, chunk, 0))
    }

    fn chunked(&mut self, blob: &Blob, slot: &Slot, report: &mut BlobReport) -> Outcome<()> {
        let (mut location, chunk, offset) = self.session(blob, slot)?;
        report.action = if offset > 0 { "resumed" } else { "chunked" };
        report.resumed_from = offset;
        for (start, length) in chunks::plan(offset, blob.size, chunk) {
            if self.stop_after.is_some_and(|n| self.chunks_sent >= n) {
                return Err(Failure::failed(format!(
                    "stopped after {} chunk(s) ({STOP_AFTER_CHUNKS_ENV} test hook); run again to resume",
                    self.chunks_sent
                )));
            }
            let range = chunks::content_range(start, length);
            let length_text = length.to_string();
            let headers = [
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", range.as_str()),
                ("Content-Length", length_text.as_str()),
            ];
            let body = Body::File { path: &blob.path, offset: start, length };
            let answer = self.registry.send("upload chunk", "PATCH", &location, &headers, &body)?;
            if answer.head.status != 202 {
                if answer.head.status == 404 {
                    slot.clear();
                }
                return Err(refused(&format!("chunk {range} of {}", blob.digest), &answer));
            }
            let now = chunks::resume_offset(answer.head.header("range")).map_err(Failure::failed)?;
            if now != start + length {
                return Err(Failure::failed(format!(
                    "chunk {range} of {}: the registry has {now} bytes, not {}",
                    blob.digest,
                    start + length
                )));
            }
            if let Some(next) = answer.head.header("location") {
                location = self.registry.url(next)?;
            }
            self.chunks_sent += 1;
            report.chunks += 1;
            report.sent += length;
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let close = format!("{location}{separator}digest={}", blob.digest);
        let answer = self.registry.send("close upload", "PUT", &close, &[], &Body::Bytes(&[]))?;
        if answer.head.status != 201 {
            slot.clear();
            return Err(refused(&format!("close upload of {}", blob.digest), &answer));
        }
        slot.clear();
        Ok(())
    }

    fn manifest(&mut self, reference: &str, manifest: &source::Manifest) -> Outcome<()> {
        let url = self.registry.url(&format!("/v2/{}/manifests/{reference}", self.registry.name))?;
        let headers = [("Content-Type", manifest.media_type.as_str())];
        let answer = self.registry.send("PUT manifest", "PUT", &url, &headers, &Body::Bytes(&manifest.bytes))?;
        if answer.head.status != 201 {
            return Err(refused(&format!("PUT manifest {reference}"), &answer));
        }
        let stored = answer.head.header("docker-content-digest").unwrap_or_default();
        if !stored.is_empty() && stored != manifest.digest.to_string() {
            return Err(Failure::failed(format!(
                "PUT manifest {reference}: the registry stored {stored}, not {}",
                manifest.digest
            )));
        }
        Ok(())
    }
}
