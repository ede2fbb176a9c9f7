//! `pullgate gc --app A --registry URL [--dry-run] [--min-age 24h]`: collects what no tag of the
//! app's hosted registry reaches, through the edge's admin channel (R2 is reachable only from
//! the Worker).
//!
//! ```text
//! snapshot (objects with bodies) → gc::plan (pure) → delete repository entries (the edge skips a
//!   repository pushed to since the snapshot) → re-list: keep blobs linked again meanwhile
//!   → delete blob records, data, abandoned sessions → record the recounted usage
//! ```

use std::collections::BTreeSet;

use pullgate::service::hosted::admin::{DeleteRequest, MAX_ABORTS, MAX_DELETE};
use pullgate::service::hosted::gc::{self, Entry};
use pullgate::service::hosted::layout;

use super::hosted_admin::Admin;
use super::{require_app, Ctx};
use crate::cli::GcArgs;
use crate::failure::{Failure, Outcome};
use crate::validate;

pub fn run(ctx: &Ctx, args: &GcArgs) -> Outcome<()> {
    let app = require_app(ctx.kv()?, &args.app)?;
    if !app.upstreams.iter().any(|u| u.hosted) {
        return Err(Failure::usage(format!("app {} has no hosted registry", app.slug))
            .hint(format!("`pullgate hosted enable --app {}` gives it one", app.slug)));
    }
    let min_age = validate::duration(&args.min_age)?;
    let admin = Admin::open(ctx, &app.slug, &args.registry)?;
    // `since` is the edge's clock, the one R2's upload times are on.
    let (since, snapshot) = admin.snapshot(true)?;
    let plan = gc::plan(&app.slug, &snapshot, since, min_age);

    let mut skipped: Vec<String> = Vec::new();
    let (mut deleted, mut aborted, mut usage) = (0usize, 0usize, None);
    if !args.dry_run {
        let (repo_keys, rest): (Vec<String>, Vec<String>) =
            plan.delete.iter().cloned().partition(|k| layout::split_repo_key(&app.slug, k).is_some());
        for batch in repo_keys.chunks(MAX_DELETE) {
            let answer = admin.delete(&DeleteRequest { since, keys: batch.to_vec(), aborts: vec![], usage: None })?;
            deleted += answer.deleted;
            skipped.extend(answer.skipped);
        }
        // A push may have linked a doomed blob again meanwhile: what is linked now stays.
        let (_, now_listed) = admin.snapshot(false)?;
        let rest = still_unlinked(&app.slug, &snapshot, &now_listed, rest, &mut skipped);
        for batch in rest.chunks(MAX_DELETE) {
            let answer = admin.delete(&DeleteRequest { since, keys: batch.to_vec(), aborts: vec![], usage: None })?;
            deleted += answer.deleted;
        }
        for batch in plan.aborts.chunks(MAX_ABORTS) {
            aborted +=
                admin.delete(&DeleteRequest { since, keys: vec![], aborts: batch.to_vec(), usage: None })?.aborted;
        }
        let gone: BTreeSet<&str> = rest.iter().map(String::as_str).collect();
        let bytes = stored_bytes(&app.slug, now_listed.iter().filter(|e| !gone.contains(e.key.as_str())));
        admin.delete(&DeleteRequest { since, keys: vec![], aborts: vec![], usage: Some(bytes) })?;
        usage = Some(bytes);
    }

    let json = serde_json::json!({
        "app": app.slug, "dry_run": args.dry_run, "min_age_seconds": min_age,
        "objects": snapshot.len(), "manifests_collected": plan.manifests_deleted, "blobs_collected": plan.blobs_deleted,
        "bytes_freed": plan.freed, "bytes_kept": plan.kept, "uploads_aborted": plan.aborts.len(),
        "keys": plan.delete, "deleted": deleted, "aborted": aborted, "skipped": skipped, "usage_bytes": usage,
    });
    ctx.out.result(&json, || {
        let verb = if args.dry_run { "would collect" } else { "collected" };
        let mut text = format!(
            "gc {}: {verb} {} manifest(s) and {} blob(s), {} bytes; {} abandoned upload(s); {} bytes kept \
             (nothing younger than {})",
            app.slug,
            plan.manifests_deleted,
            plan.blobs_deleted,
            plan.freed,
            plan.aborts.len(),
            plan.kept,
            args.min_age
        );
        if args.dry_run {
            for key in &plan.delete {
                text.push_str(&format!("\n  {key}"));
            }
        }
        if !skipped.is_empty() {
            text.push_str(&format!(
                "\n{} key(s) left alone: their repository was pushed to while gc ran; run gc again",
                skipped.len()
            ));
        }
        text
    })
}

/// The blob records and data of `rest` whose blob no repository links in `now_listed`; the
/// others (and their data) join `skipped`.
fn still_unlinked(
    app: &str,
    snapshot: &[Entry],
    now_listed: &[Entry],
    rest: Vec<String>,
    skipped: &mut Vec<String>,
) -> Vec<String> {
    let linked: BTreeSet<&str> = now_listed
        .iter()
        .filter_map(|e| match layout::split_repo_key(app, &e.key) {
            Some((_, "_links", tail)) => Some(tail),
            _ => None,
        })
        .collect();
    let blobs = layout::blobs_prefix(app);
    let mut kept_data = BTreeSet::new();
    for key in &rest {
        let Some(tail) = key.strip_prefix(&blobs) else { continue };
        if linked.contains(tail) {
            let record = snapshot.iter().find(|e| e.key == *key).and_then(|e| e.body.as_deref());
            if let Some(r) = record.and_then(|b| serde_json::from_str::<layout::BlobRecord>(b).ok()) {
                kept_data.insert(r.data);
            }
            skipped.push(key.clone());
        }
    }
    rest.into_iter()
        .filter(|k| {
            let keep = k.strip_prefix(&blobs).is_some_and(|t| linked.contains(t)) || kept_data.contains(k);
            if keep && kept_data.contains(k) {
                skipped.push(k.clone());
            }
            !keep
        })
        .collect()
}

/// What the app stores: blob bytes (its data objects) and manifests.
fn stored_bytes<'a>(app: &str, entries: impl Iterator<Item = &'a Entry>) -> u64 {
    let data = layout::data_prefix(app);
    entries
        .filter(|e| {
            e.key.starts_with(&data) || matches!(layout::split_repo_key(app, &e.key), Some((_, "_manifests", _)))
        })
        .map(|e| e.size)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, size: u64, body: Option<&str>) -> Entry {
        Entry { key: key.into(), size, uploaded: 0, body: body.map(Into::into) }
    }

    #[test]
    fn a_blob_linked_again_meanwhile_stays_with_its_data() {
        let hex = "a".repeat(64);
        let record = r#"{"data":"acme/data/u1","size":5}"#;
        let snapshot = vec![entry(&format!("acme/blobs/sha256/{hex}"), 40, Some(record))];
        let rest = vec![format!("acme/blobs/sha256/{hex}"), "acme/data/u1".into(), "acme/data/orphan".into()];
        let linked_again = vec![entry(&format!("acme/repos/app/_links/sha256/{hex}"), 40, None)];
        let mut skipped = Vec::new();
        let left = still_unlinked("acme", &snapshot, &linked_again, rest.clone(), &mut skipped);
        assert_eq!(left, vec!["acme/data/orphan".to_string()]);
        assert_eq!(skipped.len(), 2);
        let mut skipped = Vec::new();
        assert_eq!(still_unlinked("acme", &snapshot, &[], rest.clone(), &mut skipped), rest);
        assert!(skipped.is_empty());
    }

    #[test]
    fn usage_counts_blob_data_and_manifests() {
        let hex = "b".repeat(64);
        let entries = [
            entry("acme/data/u1", 1000, None),
            entry(&format!("acme/repos/app/_manifests/sha256/{hex}"), 300, None),
            entry(&format!("acme/repos/app/_links/sha256/{hex}"), 40, None),
            entry(&format!("acme/blobs/sha256/{hex}"), 40, None),
            entry("acme/usage", 12, None),
        ];
        assert_eq!(stored_bytes("acme", entries.iter()), 1300);
    }
}
