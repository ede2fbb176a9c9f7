//! `pullgate images test`: every image a chart, a manifest set or a list names, checked the way
//! `upstream test` checks one (the upstream with the stored credential), or with
//! `--through-edge` the way `pull-check` does (through the edge with a customer's license), a
//! few at a time; one table row per image, and a non-zero exit if any fails (for CI).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pullgate::store::AppRecord;
use serde::Serialize;

use super::images::{inputs, serving};
use super::{pull_check, require_app, upstream_probe, Ctx};
use crate::cli::ImagesTestArgs;
use crate::failure::{Exit, Failure, Outcome};
use crate::images::image_ref::{self, ImageRef, Mapping, Serving};
use crate::images::{find, yaml};
use crate::output;

/// One image's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub image: String,
    pub upstream: Option<String>,
    pub ok: bool,
    pub result: String,
    /// The failure's machine name and exit code (`None` when it pulls).
    pub diagnosis: Option<&'static str>,
    #[serde(skip)]
    pub exit: Option<Exit>,
    pub fix: Option<String>,
}

impl Row {
    fn ok(image: &str, upstream: &str, result: String) -> Row {
        Row {
            image: image.into(),
            upstream: Some(upstream.into()),
            ok: true,
            result,
            diagnosis: None,
            exit: None,
            fix: None,
        }
    }

    fn failed(image: &str, upstream: Option<&str>, exit: Exit, result: String, fix: String) -> Row {
        Row {
            image: image.into(),
            upstream: upstream.map(str::to_string),
            ok: false,
            result,
            diagnosis: Some(exit.as_str()),
            exit: Some(exit),
            fix: Some(fix),
        }
    }
}

/// Image references of a list: one a line; blank lines and `#` comments skipped.
pub fn list_images(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_once('#').map_or(l, |(before, _)| before).trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The references named in a YAML text (every site `images rewrite` would consider).
pub fn yaml_images(text: &str) -> Result<Vec<String>, String> {
    let documents = yaml::parse(text).map_err(|e| e.to_string())?;
    Ok(documents.iter().flatten().flat_map(find::sites).map(|f| find::reference_text(&f.site)).collect())
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Every distinct reference the paths name, in first-seen order.
fn collect(ctx: &Ctx, paths: &[PathBuf]) -> Outcome<Vec<String>> {
    let mut images: Vec<String> = Vec::new();
    let mut add = |found: Vec<String>| {
        for image in found {
            if !images.contains(&image) {
                images.push(image);
            }
        }
    };
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::usage(format!("stdin: {e}")))?;
            add(list_images(&text));
        } else if path.is_file() && !is_yaml(path) {
            let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            add(list_images(&text));
        } else {
            for input in inputs(std::slice::from_ref(path))? {
                let text = std::fs::read_to_string(&input.path)
                    .map_err(|e| Failure::usage(format!("{}: {e}", input.path.display())))?;
                match yaml_images(&text) {
                    Ok(found) => add(found),
                    Err(e) if input.named => {
                        return Err(Failure::usage(format!("{}: not YAML: {e}", input.path.display())))
                    }
                    Err(e) => ctx.out.note(format!("skipped {}: not YAML ({e})", input.path.display())),
                }
            }
        }
    }
    Ok(images)
}

/// What to do about a failure of this kind.
pub fn fix_for(exit: Exit, app: &str, through_edge: bool) -> String {
    match (exit, through_edge) {
        (Exit::NotFound, _) => {
            "the tag or repository does not exist at the upstream: push it, or fix the reference".into()
        }
        (Exit::CredentialsRejected, false) => {
            format!("store a working vendor credential: pullgate upstream add --app {app} <endpoint> --replace …")
        }
        (Exit::CredentialsRejected, true) => "check the license: pullgate license inspect <license>".into(),
        (Exit::NotEntitled, false) => "widen the upstream's --repo patterns (pullgate upstream add … --replace)".into(),
        (Exit::NotEntitled, true) => {
            "the license's --image patterns or the upstream's --repo patterns exclude it".into()
        }
        (Exit::RateLimited, _) => "the registry is rate limiting: retry later, or lower --jobs".into(),
        (Exit::Network, _) => "the registry could not be reached: check its endpoint, DNS and TLS".into(),
        (Exit::Usage | Exit::Failure, false) => format!("see pullgate upstream test {app} <upstream>/<repo>:<tag>"),
        (Exit::Usage | Exit::Failure, true) => "see pullgate pull-check <image> --license …".into(),
    }
}

/// Runs `test` on every image with at most `jobs` at once; rows come back in input order.
pub fn run_all<T: Sync, R: Send>(items: &[T], jobs: usize, test: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = test(item);
                if let Ok(mut results) = results.lock() {
                    results.push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// How each image is checked.
enum Mode {
    Upstream,
    Edge { serving: Serving, license: String },
}

fn test_one(app: &AppRecord, mode: &Mode, text: &str) -> Row {
    let image = match ImageRef::parse(text) {
        Ok(image) => image,
        Err(e) => {
            return Row::failed(
                text,
                None,
                Exit::Usage,
                e.to_string(),
                "write it as [registry/]repository[:tag][@digest]".into(),
            )
        }
    };
    let Some(upstream) = image_ref::upstream_for(app, &image.registry) else {
        // Docker Hub's API host is the endpoint `upstream add` takes for it.
        let endpoint = match image.registry.as_str() {
            image_ref::DOCKER_HUB => pullgate::store::DOCKER_HUB_API_HOST,
            other => other,
        };
        return Row::failed(
            text,
            None,
            Exit::Failure,
            format!(
                "registry {} is not an upstream of app {}: customers cannot pull it through the edge",
                image.registry, app.slug
            ),
            format!(
                "add it (pullgate upstream add --app {} https://{endpoint}), or host the image on an upstream",
                app.slug
            ),
        );
    };
    let alias = upstream.display_name();
    // `upstream test` and `pull-check` take one reference: the digest when pinned, else the tag.
    let reference = match (&image.digest, &image.tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => ":latest".into(),
    };
    match mode {
        Mode::Upstream => match upstream_probe::probe(app, &format!("{alias}/{}{reference}", image.repository)) {
            Ok(probe) => match probe.result {
                Ok(message) => Row::ok(text, &probe.upstream, message),
                Err((exit, message)) => {
                    Row::failed(text, Some(&probe.upstream), exit, message, fix_for(exit, &app.slug, false))
                }
            },
            Err(failure) => {
                let fix = failure.hint.clone().unwrap_or_else(|| fix_for(failure.exit, &app.slug, false));
                Row::failed(text, Some(&alias), failure.exit, failure.message, fix)
            }
        },
        Mode::Edge { serving, license } => {
            let Mapping::Proxied { name, .. } = image_ref::map(app, serving, &image) else {
                let message = format!("repository {} is outside upstream {alias}'s allow-patterns", image.repository);
                return Row::failed(
                    text,
                    Some(&alias),
                    Exit::NotEntitled,
                    message,
                    fix_for(Exit::NotEntitled, &app.slug, true),
                );
            };
            let through = format!("{name}{reference}");
            let parsed = match pull_check::parse_image_ref(&through) {
                Ok(parsed) => parsed,
                Err(failure) => {
                    return Row::failed(
                        text,
                        Some(&alias),
                        failure.exit,
                        failure.message,
                        fix_for(failure.exit, &app.slug, true),
                    )
                }
            };
            match pull_check::pulls_as_customer(&parsed, license) {
                Ok(()) => Row::ok(text, &alias, format!("pulls through the edge as {through}")),
                Err((exit, message)) => Row::failed(
                    text,
                    Some(&alias),
                    exit,
                    format!("{through}: {message}"),
                    fix_for(exit, &app.slug, true),
                ),
            }
        }
    }
}

pub fn run(ctx: &Ctx, args: &ImagesTestArgs) -> Outcome<()> {
    let stdin_paths = args.paths.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin_paths > 1 || (stdin_paths == 1 && args.license.as_deref() == Some("-")) {
        return Err(Failure::usage("stdin can be read once: name '-' once, among the paths or as --license"));
    }
    if !args.through_edge && (args.license.is_some() || args.domain.is_some()) {
        return Err(Failure::usage("--license and --domain are for --through-edge"));
    }
    let app = require_app(ctx.kv()?, &args.app)?;
    let mode = match &args.license {
        Some(license) if args.through_edge => {
            let license = super::license::license_argument(license)?;
            if license.is_empty() {
                return Err(Failure::usage("the license is empty"));
            }
            Mode::Edge { serving: serving(ctx, &app.slug, args.domain.as_deref())?, license }
        }
        _ => Mode::Upstream,
    };
    let images = collect(ctx, &args.paths)?;
    if images.is_empty() {
        return Err(Failure::usage("no image references found in the paths given"));
    }
    let rows = run_all(&images, usize::from(args.jobs), |image| test_one(&app, &mode, image));
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.ok).collect();
    let doc = serde_json::json!({
        "app": app.slug,
        "through_edge": args.through_edge,
        "ok": failed.is_empty(),
        "tested": rows.len(),
        "failed": failed.len(),
        "images": rows,
    });
    ctx.out.result(&doc, || {
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let result = if r.ok { format!("ok: {}", r.result) } else { format!("FAIL: {}", r.result) };
                vec![
                    r.image.clone(),
                    r.upstream.clone().unwrap_or_else(|| "-".into()),
                    result,
                    r.fix.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let summary = format!("{} of {} image(s) pull", rows.len() - failed.len(), rows.len());
        format!("{}\n{summary}", output::table(&["image", "upstream", "result", "fix"], &table_rows))
    })?;
    match failed.first().and_then(|r| r.exit) {
        None => Ok(()),
        Some(exit) => {
            let names: Vec<&str> = failed.iter().map(|r| r.image.as_str()).collect();
            Err(Failure::after_report(exit, format!("{} image(s) do not pull: {}", failed.len(), names.join(", "))))
        }
    }
}

#[cfg(test)]
#[path = "image_checks_tests.rs"]
mod tests;
