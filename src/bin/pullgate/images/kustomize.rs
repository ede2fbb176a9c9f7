//! The kustomize form of a rewrite: an `images:` list (`name` as the manifests write it,
//! `newName` through the edge; kustomize keeps each image's tag and digest), either as a new
//! kustomization or appended to the vendor's own, whose layout stays as it is.

use super::yaml::{self, Edit, Node};

/// One `images:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub new_name: String,
}

/// Entries for `(written name, proxied name)` pairs, one per name, minus names in `existing`.
pub fn entries(pairs: &[(String, String)], existing: &[String]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for (name, new_name) in pairs {
        if !existing.contains(name) && !out.iter().any(|e| &e.name == name) {
            out.push(Entry { name: name.clone(), new_name: new_name.clone() });
        }
    }
    out
}

/// The entries as block-list lines, each line starting with `indent`.
fn render(entries: &[Entry], indent: &str) -> String {
    entries.iter().map(|e| format!("{indent}- name: {}\n{indent}  newName: {}\n", e.name, e.new_name)).collect()
}

/// A new kustomization holding only the `images:` patch.
pub fn new_kustomization(entries: &[Entry]) -> String {
    format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n{}", render(entries, ""))
}

/// The names a kustomization's `images:` already lists.
pub fn existing_names(doc: &Node) -> Vec<String> {
    match doc.get("images") {
        Some(Node::Seq(items)) => items.iter().filter_map(|i| i.scalar("name")).map(|s| s.value.clone()).collect(),
        _ => Vec::new(),
    }
}

/// The edit appending `entries` to the kustomization `doc` of `source`: after the last item of
/// a block `images:` list, or as a new `images:` at the end of the file.
pub fn extend(source: &str, doc: &Node, entries: &[Entry]) -> Result<Option<Edit>, String> {
    if entries.is_empty() {
        return Ok(None);
    }
    match doc.get("images") {
        None => {
            let newline = if source.is_empty() || source.ends_with('\n') { "" } else { "\n" };
            let at = source.len();
            Ok(Some(Edit { range: at..at, text: format!("{newline}images:\n{}", render(entries, "")) }))
        }
        Some(Node::Seq(items)) if !items.is_empty() => {
            let first = items.first().and_then(first_key_offset).ok_or("the first `images:` entry has no key")?;
            let prefix = yaml::line_prefix(source, first);
            let Some(dash) = prefix.rfind('-').filter(|_| prefix.bytes().all(|b| b == b' ' || b == b'-')) else {
                return Err("the kustomization's `images:` is not a block list; extend it by hand".into());
            };
            let indent = prefix.get(..dash).unwrap_or("");
            let last_end = items.iter().filter_map(Node::end).max().ok_or("the `images:` entries are empty")?;
            let at = yaml::line_end(source, last_end);
            let (at, lead) = if at < source.len() { (at + 1, "") } else { (at, "\n") };
            Ok(Some(Edit { range: at..at, text: format!("{lead}{}", render(entries, indent)) }))
        }
        _ => Err("the kustomization's `images:` is not a block list of entries; extend it by hand".into()),
    }
}

/// Where an entry's first key starts.
fn first_key_offset(item: &Node) -> Option<usize> {
    match item {
        Node::Map(entries) => entries.first().and_then(|(k, _)| k.as_ref()).map(|k| k.span.start),
        _ => None,
    }
}

#[cfg(test)]
#[path = "kustomize_tests.rs"]
mod tests;
