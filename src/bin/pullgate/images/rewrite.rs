//! What `images rewrite` does to one file's text, decided without I/O: every image site found,
//! mapped to its name through the edge, and the byte edits that point it there; images the app
//! does not serve (or that the caller's filter keeps, such as public ones) are listed untouched.

use pullgate::store::AppRecord;
use serde::Serialize;

use super::find::{self, DocKind, Site};
use super::image_ref::{self, ImageRef, Mapping, Serving};
use super::yaml::{self, Edit, Node, Scalar};

/// What became of one image site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Document number in the file (0-based) and the dotted path to the site.
    pub document: usize,
    pub path: String,
    /// The reference as the file resolves it.
    pub image: String,
    /// The proxied reference it now names, when rewritten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Why it was left as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untouched: Option<String>,
    /// The parsed reference (for kustomize patches and probes).
    #[serde(skip)]
    pub parsed: Option<ImageRef>,
    /// Whether it came from a Kubernetes object (only those a kustomize `images:` patch reaches).
    #[serde(skip)]
    pub kind: Option<DocKind>,
}

/// One file's result: its items and the rewritten text (equal to the input when nothing changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<Item>,
    pub text: String,
    /// The parsed documents, for callers that extend the file further (kustomize patches).
    pub documents: Vec<Option<Node>>,
}

/// Why an image the app serves is left as it is, when the caller says so (`--detect-private`).
pub type Keep<'a> = dyn Fn(&ImageRef, &str) -> Option<String> + 'a;

/// The edits pointing `site` at `name` (the image's name through the edge; `path` is the part
/// after the host), or why it cannot be rewritten in place.
fn edits_for(
    source: &str,
    site: &Site,
    serving: &Serving,
    name: &str,
    path: &str,
    image: &ImageRef,
) -> Result<Vec<Edit>, String> {
    let unusual = || "the scalar is written with escapes, line folds or block style; rewrite it by hand".to_string();
    let replace = |scalar: &Scalar, value: &str| yaml::replace_scalar(source, scalar, value).ok_or_else(unusual);
    match site {
        Site::Whole(scalar) => Ok(vec![replace(scalar, &format!("{name}{}", image.suffix()))?]),
        Site::Parts { registry, repository, .. } => {
            // The chart joins these parts itself; a tag inside `repository` would be lost.
            let carries_reference = match registry {
                Some(_) => repository.value.contains([':', '@']),
                None => ImageRef::parse(&repository.value).map_or(true, |r| r.tag.is_some() || r.digest.is_some()),
            };
            if carries_reference {
                return Err("the repository value carries a tag or digest; rewrite it by hand".into());
            }
            match registry {
                Some(registry) => Ok(vec![replace(registry, serving.host())?, replace(repository, path)?]),
                None => Ok(vec![replace(repository, name)?]),
            }
        }
        Site::Kustomize { new_name: Some(new_name), .. } => Ok(vec![replace(new_name, name)?]),
        Site::Kustomize { name_key, name: entry_name, new_name: None, .. } => {
            // A block entry (`- name: x` or `  name: x`): `newName` goes on the next line at
            // the same indentation. A flow entry (`{name: x}`) is left to the vendor.
            let prefix = yaml::line_prefix(source, name_key.span.start);
            if !prefix.bytes().all(|b| b == b' ' || b == b'-') {
                return Err("the entry is in flow style; add its newName by hand".into());
            }
            let at = entry_name.span.end;
            if source
                .get(at..yaml::line_end(source, at))
                .is_none_or(|rest| !rest.trim().is_empty() && !rest.trim_start().starts_with('#'))
            {
                return Err("the entry's name line goes on; add its newName by hand".into());
            }
            let indent = " ".repeat(prefix.chars().count());
            let end = yaml::line_end(source, at);
            let text = format!("\n{indent}newName: {name}");
            Ok(vec![Edit { range: end..end, text }])
        }
    }
}

/// Plans the rewrite of one file.
pub fn plan(source: &str, app: &AppRecord, serving: &Serving, keep: &Keep) -> Result<Plan, String> {
    let documents = yaml::parse(source).map_err(|e| e.to_string())?;
    let mut items = Vec::new();
    let mut edits = Vec::new();
    for (document, doc) in documents.iter().enumerate() {
        let Some(doc) = doc else { continue };
        let kind = find::kind_of(doc);
        for found in find::sites(doc) {
            let text = find::reference_text(&found.site);
            let mut item = Item {
                document,
                path: found.path.clone(),
                image: text.clone(),
                rewritten: None,
                upstream: None,
                untouched: None,
                parsed: None,
                kind: Some(kind),
            };
            let image = match ImageRef::parse(&text) {
                Ok(image) => image,
                Err(e) => {
                    item.untouched = Some(e.reason);
                    items.push(item);
                    continue;
                }
            };
            item.parsed = Some(image.clone());
            match image_ref::map(app, serving, &image) {
                Mapping::NotConfigured => {
                    item.untouched =
                        Some(format!("registry {} is not an upstream of app {}", image.registry, app.slug));
                }
                Mapping::OutsidePatterns { upstream } => {
                    item.upstream = Some(upstream.clone());
                    item.untouched = Some(format!("outside upstream {upstream}'s repository allow-patterns"));
                }
                Mapping::Proxied { upstream, path, name } => {
                    item.upstream = Some(upstream.clone());
                    if let Some(reason) = keep(&image, &upstream) {
                        item.untouched = Some(reason);
                    } else {
                        match edits_for(source, &found.site, serving, &name, &path, &image) {
                            Ok(mut site_edits) => {
                                edits.append(&mut site_edits);
                                item.rewritten = Some(format!("{name}{}", image.suffix()));
                            }
                            Err(reason) => item.untouched = Some(reason),
                        }
                    }
                }
            }
            items.push(item);
        }
    }
    let text = yaml::apply(source, edits)?;
    Ok(Plan { items, text, documents })
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
