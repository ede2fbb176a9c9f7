//! Where a YAML document names images, by what kind of document it is:
//!
//! ```text
//! Kubernetes object (apiVersion + kind)   containers[].image, initContainers[].image,
//!                                         ephemeralContainers[].image, at any depth
//!                                         (Deployment … CronJob's jobTemplate, Pod)
//! kustomization (kind: Kustomization)     images[]: name, newName, newTag, digest
//! anything else: Helm values              image: "repo:tag"
//!                                         image: {registry, repository, tag, digest}
//! ```

use super::yaml::{Node, Scalar};

/// Container lists of a pod spec.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// What kind of document a YAML document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Kubernetes,
    Kustomization,
    Values,
}

pub fn kind_of(doc: &Node) -> DocKind {
    let kind = doc.scalar("kind").map(|s| s.value.as_str());
    if kind == Some("Kustomization") {
        DocKind::Kustomization
    } else if kind.is_some() && doc.scalar("apiVersion").is_some() {
        DocKind::Kubernetes
    } else {
        DocKind::Values
    }
}

/// One place an image is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// A scalar holding a whole reference.
    Whole(Scalar),
    /// Helm's `image:` map: the reference is `registry/repository:tag@digest`.
    Parts { registry: Option<Scalar>, repository: Scalar, tag: Option<String>, digest: Option<String> },
    /// An entry of a kustomization's `images:`.
    /// `name_key` is the `name` key itself (where a missing `newName` goes).
    Kustomize {
        name_key: Scalar,
        name: Scalar,
        new_name: Option<Scalar>,
        new_tag: Option<String>,
        digest: Option<String>,
    },
}

/// A site and the dotted path to it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: String,
    pub site: Site,
}

/// Every image site of a document.
pub fn sites(doc: &Node) -> Vec<Found> {
    let mut found = Vec::new();
    match kind_of(doc) {
        DocKind::Kubernetes => containers(doc, String::new(), &mut found),
        DocKind::Kustomization => kustomize_entries(doc, &mut found),
        DocKind::Values => values(doc, String::new(), &mut found),
    }
    found
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `containers[].image` (and the other lists) anywhere under `node`.
fn containers(node: &Node, path: String, found: &mut Vec<Found>) {
    match node {
        Node::Map(entries) => {
            for (key, value) in entries {
                let Some(key) = key else { continue };
                let here = child_path(&path, &key.value);
                match value {
                    Node::Seq(items) if CONTAINER_LISTS.contains(&key.value.as_str()) => {
                        for (i, item) in items.iter().enumerate() {
                            if let Some(image) = item.scalar("image") {
                                found.push(Found {
                                    path: format!("{here}[{i}].image"),
                                    site: Site::Whole(image.clone()),
                                });
                            }
                        }
                    }
                    _ => containers(value, here, found),
                }
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                containers(item, format!("{path}[{i}]"), found);
            }
        }
        Node::Scalar(_) | Node::Alias => {}
    }
}

/// A scalar's value unless empty (`tag: ""` means "the chart's default").
fn text(node: &Node, key: &str) -> Option<String> {
    node.scalar(key).map(|s| s.value.clone()).filter(|v| !v.is_empty())
}

/// Helm values: `image:` keys at any depth, as a string or a registry/repository/tag map.
fn values(node: &Node, path: String, found: &mut Vec<Found>) {
    match node {
        Node::Map(entries) => {
            for (key, value) in entries {
                let Some(key) = key else { continue };
                let here = child_path(&path, &key.value);
                if key.value == "image" {
                    match value {
                        Node::Scalar(s) if !s.value.is_empty() => {
                            found.push(Found { path: here, site: Site::Whole(s.clone()) });
                            continue;
                        }
                        Node::Map(_) => {
                            if let Some(repository) = value.scalar("repository").filter(|s| !s.value.is_empty()) {
                                let site = Site::Parts {
                                    registry: value.scalar("registry").filter(|s| !s.value.is_empty()).cloned(),
                                    repository: repository.clone(),
                                    tag: text(value, "tag"),
                                    digest: text(value, "digest"),
                                };
                                found.push(Found { path: here, site });
                                continue;
                            }
                        }
                        _ => {}
                    }
                }
                values(value, here, found);
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                values(item, format!("{path}[{i}]"), found);
            }
        }
        Node::Scalar(_) | Node::Alias => {}
    }
}

/// The `images:` entries of a kustomization.
fn kustomize_entries(doc: &Node, found: &mut Vec<Found>) {
    let Some(Node::Seq(items)) = doc.get("images") else { return };
    for (i, item) in items.iter().enumerate() {
        let (Some(name_key), Some(name)) = (item.key("name"), item.scalar("name")) else { continue };
        let site = Site::Kustomize {
            name_key: name_key.clone(),
            name: name.clone(),
            new_name: item.scalar("newName").cloned(),
            new_tag: text(item, "newTag"),
            digest: text(item, "digest"),
        };
        found.push(Found { path: format!("images[{i}]"), site });
    }
}

/// The reference a site resolves to, as text to parse: for kustomize entries, the image the
/// entry makes (its `newName` or `name`, with its tag or digest).
pub fn reference_text(site: &Site) -> String {
    let suffix = |tag: &Option<String>, digest: &Option<String>| {
        let tag = tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        let digest = digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default();
        format!("{tag}{digest}")
    };
    match site {
        Site::Whole(s) => s.value.clone(),
        Site::Parts { registry, repository, tag, digest } => {
            let registry = registry.as_ref().map(|r| format!("{}/", r.value.trim_end_matches('/'))).unwrap_or_default();
            format!("{registry}{}{}", repository.value, suffix(tag, digest))
        }
        Site::Kustomize { name, new_name, new_tag, digest, .. } => {
            let base = new_name.as_ref().unwrap_or(name);
            format!("{}{}", base.value, suffix(new_tag, digest))
        }
    }
}

#[cfg(test)]
#[path = "find_tests.rs"]
mod tests;
