//! `pullgate images rewrite`: points every image of an app's upstreams, in Kubernetes
//! manifests, Helm values and kustomizations, at its name through the edge, in the files
//! themselves or as a kustomize `images:` patch. The decisions are in `crate::images`; this
//! module reads and writes files, finds the host, and probes images for `--detect-private`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pullgate::store::AppRecord;
use serde::Serialize;

use super::pull_secret::{app_hosts, registry_host};
use super::{http, require_app, Ctx};
use crate::cli::{ImagesCommand, ImagesRewriteArgs, RewriteFormat};
use crate::failure::{Failure, Outcome};
use crate::images::find::DocKind;
use crate::images::image_ref::{ImageRef, Serving};
use crate::images::rewrite::{self, Item, Plan};
use crate::images::{kustomize, yaml};
use crate::output;

pub fn run(ctx: &Ctx, command: ImagesCommand) -> Outcome<()> {
    match command {
        ImagesCommand::Rewrite(args) => rewrite_files(ctx, &args),
        ImagesCommand::Test(args) => super::image_checks::run(ctx, &args),
    }
}

/// A file to read, and where it goes under `--out` (its path below the argument that named it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub relative: PathBuf,
    /// Named on the command line (a parse error fails the run) rather than found in a directory
    /// (where a Helm template that is not YAML yet is skipped).
    pub named: bool,
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// The YAML files under `dir`, sorted, hidden entries and symlinked directories skipped.
fn walk(dir: &Path, base: &Path, out: &mut Vec<Input>) -> Outcome<()> {
    let read = std::fs::read_dir(dir).map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        // Symlinked directories are not followed: a link to a parent would never end.
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir {
            walk(&path, base, out)?;
        } else if is_yaml(&path) && path.is_file() {
            let relative = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
            out.push(Input { path, relative, named: false });
        }
    }
    Ok(())
}

/// Files and directories from the command line, as inputs.
pub fn inputs(paths: &[PathBuf]) -> Outcome<Vec<Input>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, path, &mut out)?;
        } else if path.is_file() {
            let relative = PathBuf::from(path.file_name().unwrap_or(path.as_os_str()));
            out.push(Input { path: path.clone(), relative, named: true });
        } else {
            return Err(Failure::usage(format!("{}: no such file or directory", path.display())));
        }
    }
    if out.is_empty() {
        return Err(Failure::usage("no YAML files (*.yaml, *.yml) among the paths given"));
    }
    Ok(out)
}

/// The host images are rewritten to: `--domain`, or the app's first public custom domain, or
/// the Worker's first public host.
pub fn serving(ctx: &Ctx, app: &str, domain: Option<&str>) -> Outcome<Serving> {
    let hosts = app_hosts(ctx, app)?;
    let custom = |host: String| Serving::Custom { host };
    let default = |host: String| Serving::Default { host, app: app.to_string() };
    if let Some(domain) = domain {
        let (key, host) = registry_host(domain)?;
        if hosts.domains.contains(&host) {
            return Ok(custom(key));
        }
        if hosts.worker.contains(&host) {
            return Ok(default(key));
        }
        let mut all = hosts.domains.clone();
        all.extend(hosts.worker);
        return Err(Failure::usage(format!("app {app} is not served on {host}"))
            .hint(format!("its hosts: {}", if all.is_empty() { "none".into() } else { all.join(", ") })));
    }
    let public = |h: &&String| !crate::validate::is_loopback(h);
    if let Some(host) = hosts.domains.iter().find(public) {
        return Ok(custom(host.clone()));
    }
    if let Some(host) = hosts.worker.iter().find(public) {
        return Ok(default(host.clone()));
    }
    Err(Failure::usage(format!("app {app} has no public host to name images with"))
        .hint("pass --domain HOST[:PORT], add a custom domain (`pullgate domain add`), or set DEFAULT_HOSTS"))
}

/// What an anonymous manifest request says about an image: `None` when the upstream refuses it
/// (a private image, to rewrite), else why the image is left as it is.
pub fn probe_verdict(answer: Result<u16, String>) -> Option<String> {
    match answer {
        Ok(401 | 403) => None,
        Ok(status) if (200..300).contains(&status) => Some("public: the upstream serves it without credentials".into()),
        Ok(status) => {
            Some(format!("the anonymous probe got HTTP {status}; only images that refuse it (401/403) are rewritten"))
        }
        Err(e) => Some(format!("the anonymous probe failed: {e}")),
    }
}

/// `GET /v2/<repo>/manifests/<ref>` at the image's upstream, without credentials.
fn probe(app: &AppRecord, image: &ImageRef, upstream: &str) -> Result<u16, String> {
    let record = app.upstream_named(upstream).ok_or("no such upstream")?;
    let reference = image.digest.clone().or_else(|| image.tag.clone()).unwrap_or_else(|| "latest".into());
    let url = format!("{}/v2/{}/manifests/{reference}", record.api_base(), record.upstream_repo(&image.repository));
    let headers = [("accept".to_string(), pullgate::upstream::DEFAULT_MANIFEST_ACCEPT.to_string())];
    http::send(&http::agent(), "GET", &url, &headers, None, 64 * 1024).map(|a| a.head.status).map_err(|e| e.to_string())
}

/// One input's outcome.
#[derive(Debug, Serialize)]
struct FileReport {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    written_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    images: Vec<Item>,
}

/// An input, its text, and its plan (or why it is not YAML).
type Planned = (Input, String, Result<Plan, String>);

/// Plans every input; YAML errors fail named files and skip found ones (Helm templates).
fn plan_all(
    ctx: &Ctx,
    inputs: &[Input],
    app: &AppRecord,
    serving: &Serving,
    keep: &rewrite::Keep,
) -> Outcome<Vec<Planned>> {
    let mut planned = Vec::new();
    for input in inputs {
        let source = std::fs::read_to_string(&input.path)
            .map_err(|e| Failure::usage(format!("{}: {e}", input.path.display())))?;
        let plan = rewrite::plan(&source, app, serving, keep);
        if let Err(e) = &plan {
            if input.named {
                return Err(Failure::usage(format!("{}: not YAML pullgate can edit: {e}", input.path.display())));
            }
            ctx.out.note(format!("skipped {}: not YAML ({e})", input.path.display()));
        }
        planned.push((input.clone(), source, plan));
    }
    Ok(planned)
}

fn write(path: &Path, text: &str) -> Outcome<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Failure::failed(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(path, text).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))
}

/// Where an output goes: under `--out`, over the input (`--in-place`), or stdout (`None`).
fn destination(args: &ImagesRewriteArgs, input: &Input) -> Option<PathBuf> {
    match (&args.out, args.in_place) {
        (Some(dir), _) => Some(dir.join(&input.relative)),
        (None, true) => Some(input.path.clone()),
        (None, false) => None,
    }
}

fn rewrite_files(ctx: &Ctx, args: &ImagesRewriteArgs) -> Outcome<()> {
    let inputs = inputs(&args.paths)?;
    let app = require_app(ctx.kv()?, &args.app)?;
    let serving = serving(ctx, &app.slug, args.domain.as_deref())?;
    let probes: RefCell<BTreeMap<String, Option<String>>> = RefCell::default();
    let keep = |image: &ImageRef, upstream: &str| -> Option<String> {
        if !args.detect_private {
            return None;
        }
        let key = image.to_string();
        if let Some(known) = probes.borrow().get(&key) {
            return known.clone();
        }
        let verdict = probe_verdict(probe(&app, image, upstream));
        probes.borrow_mut().insert(key, verdict.clone());
        verdict
    };
    let planned = plan_all(ctx, &inputs, &app, &serving, &keep)?;
    let mut outputs: Vec<(Option<PathBuf>, String)> = Vec::new();
    let mut reports = Vec::new();
    match args.format {
        RewriteFormat::Files => {
            if args.out.is_none() && !args.in_place && planned.len() != 1 {
                return Err(Failure::usage("several files: name --out DIR or --in-place"));
            }
            for (input, source, plan) in planned {
                let destination = destination(args, &input);
                let (text, images, skipped) = match plan {
                    Ok(plan) => (plan.text, plan.items, None),
                    Err(e) => (source.clone(), Vec::new(), Some(e)),
                };
                // In place, only files that change are written.
                if !(args.in_place && text == source) {
                    outputs.push((destination.clone(), text));
                }
                let written_to = destination.map(|d| d.display().to_string());
                reports.push(FileReport { path: input.path.display().to_string(), written_to, skipped, images });
            }
        }
        RewriteFormat::Kustomize => kustomize_patch(args, planned, &mut outputs, &mut reports)?,
    }
    for (path, text) in &outputs {
        if let Some(path) = path {
            write(path, text)?;
        }
    }
    let stdout_text: Option<String> = outputs.iter().find(|(p, _)| p.is_none()).map(|(_, t)| t.clone());
    let rows: Vec<Vec<String>> = reports
        .iter()
        .flat_map(|r| {
            r.images.iter().map(move |i| {
                let result = match (&i.rewritten, &i.untouched) {
                    (Some(to), _) => format!("→ {to}"),
                    (None, Some(why)) => format!("untouched: {why}"),
                    (None, None) => "untouched".to_string(),
                };
                vec![r.path.clone(), i.image.clone(), result]
            })
        })
        .collect();
    let rewritten = reports.iter().flat_map(|r| &r.images).filter(|i| i.rewritten.is_some()).count();
    let untouched = reports.iter().flat_map(|r| &r.images).filter(|i| i.rewritten.is_none()).count();
    let summary = format!("{rewritten} image(s) now pull through {}; {untouched} untouched", serving.host());
    let table = format!("{}\n{summary}", output::table(&["file", "image", "result"], &rows));
    let doc = serde_json::json!({
        "app": app.slug,
        "host": serving.host(),
        "format": match args.format { RewriteFormat::Files => "files", RewriteFormat::Kustomize => "kustomize" },
        "files": reports,
        "rewritten": rewritten,
        "untouched": untouched,
        "output": stdout_text,
    });
    match &stdout_text {
        // The file itself is the output: the report goes to stderr.
        Some(text) if !ctx.out.json => {
            ctx.out.note(table);
            print!("{text}");
            Ok(())
        }
        _ => ctx.out.result(&doc, || table),
    }
}

/// `--format kustomize`: manifests stay as they are; the images they name go into the
/// kustomization among the inputs (its own entries rewritten, new ones appended) or into a
/// new kustomization.
fn kustomize_patch(
    args: &ImagesRewriteArgs,
    planned: Vec<Planned>,
    outputs: &mut Vec<(Option<PathBuf>, String)>,
    reports: &mut Vec<FileReport>,
) -> Outcome<()> {
    let mut pairs = Vec::new();
    let mut base: Option<(Input, Plan)> = None;
    for (input, _, plan) in planned {
        let Ok(mut plan) = plan else { continue };
        let is_kustomization =
            plan.documents.iter().flatten().any(|d| crate::images::find::kind_of(d) == DocKind::Kustomization);
        if is_kustomization {
            if let Some((first, _)) = &base {
                return Err(Failure::usage(format!(
                    "two kustomizations among the inputs ({} and {}); name one",
                    first.path.display(),
                    input.path.display()
                )));
            }
            base = Some((input, plan));
            continue;
        }
        for item in &mut plan.items {
            if item.kind == Some(DocKind::Values) && item.rewritten.is_some() {
                item.rewritten = None;
                item.untouched = Some("Helm values are not reached by a kustomize patch: use --format files".into());
            }
            if let (Some(DocKind::Kubernetes), Some(to), Some(parsed)) = (item.kind, &item.rewritten, &item.parsed) {
                let new_name = to.strip_suffix(&parsed.suffix()).unwrap_or(to).to_string();
                pairs.push((parsed.written_name.clone(), new_name));
            }
        }
        let path = input.path.display().to_string();
        reports.push(FileReport { path, written_to: None, skipped: None, images: plan.items });
    }
    match base {
        Some((input, plan)) => {
            let doc =
                plan.documents.iter().flatten().find(|d| crate::images::find::kind_of(d) == DocKind::Kustomization);
            let doc = doc.ok_or_else(|| Failure::failed("the kustomization went missing"))?;
            let entries = kustomize::entries(&pairs, &kustomize::existing_names(doc));
            // The kustomization's own entries were rewritten on the original text; offsets
            // of the appended list come from a parse of that result.
            let reparsed = yaml::parse(&plan.text).map_err(|e| Failure::failed(e.to_string()))?;
            let redoc = reparsed.iter().flatten().find(|d| crate::images::find::kind_of(d) == DocKind::Kustomization);
            let redoc = redoc.ok_or_else(|| Failure::failed("the kustomization went missing"))?;
            let edit = kustomize::extend(&plan.text, redoc, &entries)
                .map_err(|e| Failure::usage(format!("{}: {e}", input.path.display())))?;
            let text = yaml::apply(&plan.text, edit.into_iter().collect()).map_err(Failure::failed)?;
            let destination = destination(args, &input);
            let mut images = plan.items;
            images.extend(entries.iter().map(|e| Item {
                document: 0,
                path: "images[+]".into(),
                image: e.name.clone(),
                rewritten: Some(e.new_name.clone()),
                upstream: None,
                untouched: None,
                parsed: None,
                kind: Some(DocKind::Kustomization),
            }));
            let written_to = destination.as_ref().map(|d| d.display().to_string());
            reports.push(FileReport { path: input.path.display().to_string(), written_to, skipped: None, images });
            outputs.push((destination, text));
        }
        None => {
            if args.in_place {
                return Err(Failure::usage("--in-place needs a kustomization among the inputs to extend")
                    .hint("without one, the patch is printed (or written to --out DIR/kustomization.yaml)"));
            }
            let entries = kustomize::entries(&pairs, &[]);
            let destination = args.out.as_ref().map(|d| d.join("kustomization.yaml"));
            outputs.push((destination, kustomize::new_kustomization(&entries)));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
