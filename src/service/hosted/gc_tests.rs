//! gc's decision: what tags reach stays (through indexes and referrers), the rest goes unless
//! it is younger than the grace period, and sessions and orphaned data are cleaned up.

use super::*;
use crate::reference::Algorithm;

const APP: &str = "acme";
const NOW: i64 = 1_000_000;
const DAY: i64 = 86_400;
const OLD: i64 = NOW - 2 * DAY;

fn d(seed: &str) -> Digest {
    Digest::of_bytes(Algorithm::Sha256, seed.as_bytes())
}

struct Bucket(Vec<Entry>);

impl Bucket {
    fn put(&mut self, key: String, size: u64, uploaded: i64, body: Option<String>) {
        self.0.push(Entry { key, size, uploaded, body });
    }

    /// A blob stored in the app and linked into `repos`.
    fn blob(&mut self, digest: &Digest, size: u64, at: i64, repos: &[&str]) -> String {
        let data = layout::data(APP, &format!("up-{}", &digest.hex()[..8]));
        let record = BlobRecord { data: data.clone(), size, at };
        let json = serde_json::to_string(&record).unwrap();
        self.put(layout::blob(APP, digest), json.len() as u64, at, Some(json.clone()));
        self.put(data.clone(), size, at, None);
        for repo in repos {
            self.put(layout::link(APP, repo, digest), json.len() as u64, at, Some(json.clone()));
        }
        data
    }

    /// An image manifest naming `blobs`, optionally with a subject; returns its digest.
    fn image(&mut self, repo: &str, blobs: &[&Digest], subject: Option<&Digest>, at: i64) -> Digest {
        let layers: Vec<_> = blobs.iter().map(|b| serde_json::json!({ "digest": b.to_string(), "size": 1 })).collect();
        let mut doc = serde_json::json!({ "schemaVersion": 2, "config": layers[0], "layers": layers[1..] });
        if let Some(s) = subject {
            doc["subject"] = serde_json::json!({ "digest": s.to_string(), "size": 1 });
        }
        self.manifest(repo, doc, subject, at)
    }

    fn index(&mut self, repo: &str, children: &[&Digest], at: i64) -> Digest {
        let manifests: Vec<_> =
            children.iter().map(|c| serde_json::json!({ "digest": c.to_string(), "size": 1 })).collect();
        self.manifest(repo, serde_json::json!({ "schemaVersion": 2, "manifests": manifests }), None, at)
    }

    fn manifest(&mut self, repo: &str, doc: serde_json::Value, subject: Option<&Digest>, at: i64) -> Digest {
        let bytes = doc.to_string();
        let digest = Digest::of_bytes(Algorithm::Sha256, bytes.as_bytes());
        self.put(layout::manifest(APP, repo, &digest), bytes.len() as u64, at, Some(bytes));
        if let Some(s) = subject {
            self.put(layout::referrer(APP, repo, s, &digest), 10, at, Some("{}".into()));
        }
        digest
    }

    fn tag(&mut self, repo: &str, tag: &str, digest: &Digest) {
        self.put(layout::tag(APP, repo, tag), 71, OLD, Some(digest.to_string()));
    }
}

fn deleted(plan: &Plan) -> BTreeSet<&str> {
    plan.delete.iter().map(String::as_str).collect()
}

#[test]
fn what_a_tag_reaches_stays_and_the_rest_goes() {
    let mut b = Bucket(Vec::new());
    let (config, layer, stale) = (d("config"), d("layer"), d("stale"));
    let kept_data = b.blob(&config, 100, OLD, &["app"]);
    b.blob(&layer, 1000, OLD, &["app"]);
    let stale_data = b.blob(&stale, 5000, OLD, &["app"]);
    let tagged = b.image("app", &[&config, &layer], None, OLD);
    let untagged = b.image("app", &[&config, &stale], None, OLD);
    b.tag("app", "1.0", &tagged);

    let plan = plan(APP, &b.0, NOW, DAY);
    let gone = deleted(&plan);
    assert!(gone.contains(layout::manifest(APP, "app", &untagged).as_str()));
    assert!(gone.contains(layout::link(APP, "app", &stale).as_str()));
    assert!(gone.contains(layout::blob(APP, &stale).as_str()));
    assert!(gone.contains(stale_data.as_str()));
    for key in
        [layout::manifest(APP, "app", &tagged), layout::link(APP, "app", &layer), layout::blob(APP, &config), kept_data]
    {
        assert!(!gone.contains(key.as_str()), "{key} was collected");
    }
    assert_eq!(gone.len(), 4, "{gone:?}");
    assert_eq!((plan.manifests_deleted, plan.blobs_deleted), (1, 1));
    let untagged_size = b.0.iter().find(|e| e.key == layout::manifest(APP, "app", &untagged)).unwrap().size;
    assert_eq!(plan.freed, 5000 + untagged_size);
    let tagged_size = b.0.iter().find(|e| e.key == layout::manifest(APP, "app", &tagged)).unwrap().size;
    assert_eq!(plan.kept, 1100 + tagged_size);
    // The blob record goes before its data, the link before the blob record.
    let at = |k: &str| plan.delete.iter().position(|x| x == k).unwrap();
    assert!(at(&layout::link(APP, "app", &stale)) < at(&layout::blob(APP, &stale)));
    assert!(at(&layout::blob(APP, &stale)) < at(&stale_data));
}

#[test]
fn indexes_referrers_and_other_repositories_keep_what_they_name() {
    let mut b = Bucket(Vec::new());
    let (c, amd, arm, sig) = (d("c"), d("amd"), d("arm"), d("sig"));
    b.blob(&c, 1, OLD, &["app", "other"]);
    b.blob(&amd, 1, OLD, &["app"]);
    b.blob(&arm, 1, OLD, &["app"]);
    b.blob(&sig, 1, OLD, &["app"]);
    let child_amd = b.image("app", &[&c, &amd], None, OLD);
    let child_arm = b.image("app", &[&c, &arm], None, OLD);
    let index = b.index("app", &[&child_amd, &child_arm], OLD);
    let signature = b.image("app", &[&c, &sig], Some(&index), OLD);
    b.tag("app", "multi", &index);
    // `other` links c but tags nothing: its link goes, the blob stays for `app`.
    let plan = plan(APP, &b.0, NOW, DAY);
    let gone = deleted(&plan);
    assert_eq!(gone, BTreeSet::from([layout::link(APP, "other", &c).as_str()]), "{gone:?}");
    let _ = signature;

    // Untag the index: the whole tree goes, the referrer entry with it.
    b.0.retain(|e| !e.key.contains("/_tags/"));
    let plan = super::plan(APP, &b.0, NOW, DAY);
    assert_eq!(plan.manifests_deleted, 4);
    assert_eq!(plan.blobs_deleted, 4);
    assert!(deleted(&plan).contains(layout::referrer(APP, "app", &index, &signature).as_str()));
}

#[test]
fn nothing_younger_than_the_grace_period_is_collected() {
    let mut b = Bucket(Vec::new());
    let (c, l) = (d("c2"), d("l2"));
    let fresh = NOW - 60;
    b.blob(&c, 1, fresh, &["app"]);
    b.blob(&l, 1, OLD, &["app"]);
    // A push in progress: its manifest is up, its tag not yet; it names an old blob.
    let m = b.image("app", &[&c, &l], None, fresh);
    let plan = plan(APP, &b.0, NOW, DAY);
    assert!(plan.delete.is_empty(), "{:?}", plan.delete);
    // With no grace period all of it goes.
    let plan = super::plan(APP, &b.0, NOW, 0);
    assert_eq!((plan.manifests_deleted, plan.blobs_deleted), (1, 2));
    assert!(deleted(&plan).contains(layout::manifest(APP, "app", &m).as_str()));
}

#[test]
fn old_sessions_are_aborted_and_orphaned_data_goes() {
    let mut b = Bucket(Vec::new());
    let session = |data: &str, started: i64| UploadState {
        repo: "app".into(),
        data: data.into(),
        multipart: format!("mp-{data}"),
        parts: vec![],
        offset: 0,
        started,
    };
    for (id, started) in [("old", OLD), ("new", NOW - 10)] {
        let data = layout::data(APP, id);
        let body = serde_json::to_string(&session(&data, started)).unwrap();
        b.put(layout::upload(APP, id), 10, started, Some(body));
    }
    b.put(layout::data(APP, "orphan"), 7, OLD, None);
    b.put(layout::data(APP, "young-orphan"), 7, NOW - 5, None);
    b.put(layout::usage(APP), 10, OLD, Some("{\"bytes\":1}".into()));
    b.put("other-app/data/x".into(), 7, OLD, None);
    let plan = plan(APP, &b.0, NOW, DAY);
    assert_eq!(plan.aborts.len(), 1);
    assert_eq!(plan.aborts[0].key, layout::upload(APP, "old"));
    assert_eq!(plan.aborts[0].multipart, format!("mp-{}", layout::data(APP, "old")));
    assert_eq!(plan.delete, vec![layout::data(APP, "orphan")]);
}

#[test]
fn repository_sizes_count_manifests_and_linked_blobs() {
    let mut b = Bucket(Vec::new());
    let (c, l) = (d("c3"), d("l3"));
    b.blob(&c, 10, OLD, &["a", "b/c"]);
    b.blob(&l, 1000, OLD, &["a"]);
    let m = b.image("a", &[&c, &l], None, OLD);
    b.tag("a", "v1", &m);
    let m_size = b.0.iter().find(|e| e.key == layout::manifest(APP, "a", &m)).unwrap().size;
    assert_eq!(repo_sizes(APP, &b.0), vec![("a".to_string(), 1010 + m_size), ("b/c".to_string(), 10)]);
}

#[test]
fn bodies_are_asked_for_the_records_the_decision_reads() {
    let x = d("x");
    for (key, want) in [
        (layout::tag(APP, "a/b", "v1"), true),
        (layout::manifest(APP, "a", &x), true),
        (layout::blob(APP, &x), true),
        (layout::upload(APP, "u1"), true),
        (layout::link(APP, "a", &x), false),
        (layout::referrer(APP, "a", &x, &x), false),
        (layout::data(APP, "u1"), false),
        (layout::usage(APP), false),
    ] {
        assert_eq!(wants_body(APP, &key), want, "{key}");
    }
}
