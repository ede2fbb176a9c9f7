//! The hosted registry end to end in memory: push tokens at the token endpoint, uploads
//! (monolithic, chunked, mount), manifests with their checks, pulls with a license, tags,
//! referrers, deletes, quotas, and who may not push.

use super::*;
use crate::push_token;
use crate::reference::{Algorithm, Digest};
use crate::service::hosted::objects::UploadBody;
use crate::service::hosted::MIN_CHUNK;

const REPO: &str = "proxy/demo/hosted/team/app";

fn push_token_for(app: &str, repos: &[&str], delete: bool) -> String {
    push_token::issue(&push_claims(app, repos, delete), &signing_key())
}

fn push_claims(app: &str, repos: &[&str], delete: bool) -> push_token::Claims {
    push_token::Claims {
        id: "pt_1".into(),
        app: app.into(),
        repos: repos.iter().map(|s| s.to_string()).collect(),
        delete,
        admin: false,
        iat: NOW,
        exp: NOW + 3600,
    }
}

/// The short-lived token `pullgate gc` signs for the admin channel.
fn admin_token(lifetime: i64) -> String {
    let claims = push_token::Claims { admin: true, exp: NOW + lifetime, ..push_claims("demo", &[], false) };
    format!("Bearer {}", push_token::issue(&claims, &signing_key()))
}

fn pusher(mem: &Mem, isolate: &Isolate, name: &str) -> String {
    let scope = format!("repository:{name}:pull,push,delete");
    format!("Bearer {}", token_for(mem, isolate, DEFAULT_HOST, &push_token_for("demo", &[], true), &scope))
}

fn with_body(mem: &Mem, bytes: &[u8], content_range: Option<&str>, content_type: Option<&str>) {
    *mem.bucket.body.borrow_mut() = Some(UploadBody {
        body: bytes.to_vec(),
        length: Some(bytes.len() as u64),
        content_range: content_range.map(Into::into),
        content_type: content_type.map(Into::into),
    });
}

fn req(method: &str, path: &str, auth: &str) -> Incoming {
    get(path).method(method).auth(auth.to_string())
}

fn sha(bytes: &[u8]) -> Digest {
    Digest::of_bytes(Algorithm::Sha256, bytes)
}

/// Pushes a blob monolithically.
fn push_blob(mem: &Mem, isolate: &Isolate, auth: &str, name: &str, bytes: &[u8]) -> Digest {
    let d = sha(bytes);
    with_body(mem, bytes, None, None);
    let h = send(mem, isolate, req("POST", &format!("/v2/{name}/blobs/uploads/?digest={d}"), auth));
    assert_eq!(h.reply.status(), 201, "{}", body_text(&h));
    d
}

fn image_manifest(config: &Digest, layers: &[&Digest]) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|d| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": 1}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": layers,
    }))
    .unwrap()
}

fn put_manifest(
    mem: &Mem,
    isolate: &Isolate,
    auth: &str,
    name: &str,
    reference: &str,
    body: &[u8],
) -> Handled<Vec<u8>> {
    with_body(mem, body, None, Some("application/vnd.oci.image.manifest.v1+json"));
    send(mem, isolate, req("PUT", &format!("/v2/{name}/manifests/{reference}"), auth))
}

#[test]
fn a_pushed_image_is_pulled_with_a_license_by_tag_and_digest() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    let layer = push_blob(&mem, &isolate, &auth, REPO, b"layer bytes");
    let manifest = image_manifest(&config, &[&layer]);
    let h = put_manifest(&mem, &isolate, &auth, REPO, "v1", &manifest);
    assert_eq!(h.reply.status(), 201, "{}", body_text(&h));
    let digest = sha(&manifest);
    assert_eq!(h.reply.header("docker-content-digest"), Some(digest.to_string().as_str()));
    assert_eq!(h.reply.header("location"), Some(format!("/v2/{REPO}/manifests/{digest}").as_str()));

    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    for reference in ["v1".to_string(), digest.to_string()] {
        let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/{reference}")).auth(lic.clone()));
        assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
        assert_eq!(body(&h), manifest.as_slice());
        assert_eq!(h.reply.header("content-type"), Some("application/vnd.oci.image.manifest.v1+json"));
    }
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/blobs/{layer}")).auth(lic.clone()));
    assert_eq!((h.reply.status(), body(&h)), (200, &b"layer bytes"[..]));
    let mut ranged = get(&format!("/v2/{REPO}/blobs/{layer}")).auth(lic.clone());
    ranged.range = Some("bytes=6-".into());
    let h = send(&mem, &isolate, ranged);
    assert_eq!((h.reply.status(), body(&h)), (206, &b"bytes"[..]));
    assert_eq!(h.reply.header("content-range"), Some("bytes 6-10/11"));
    // The short name on the app's custom domain is the same repository.
    let h = send(&mem, &isolate, get("/v2/hosted/team/app/manifests/v1").on(DEMO_DOMAIN).auth(lic));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
}

#[test]
fn a_push_token_as_the_basic_password_pulls_only_what_it_may_push() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    let manifest = image_manifest(&config, &[]);
    assert_eq!(put_manifest(&mem, &isolate, &auth, REPO, "v1", &manifest).reply.status(), 201);
    let pull = |token: &str| send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/v1")).auth(basic(token)));
    let h = pull(&push_token_for("demo", &["team/*"], false));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
    assert_eq!(body(&h), manifest.as_slice());
    // Outside its patterns, another app's, or on a proxied upstream: refused, never a license
    // sign-in failure.
    let h = pull(&push_token_for("demo", &["ci/*"], false));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (401, "token_scope"));
    let h = pull(&push_token_for("other", &[], false));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (403, "push_not_allowed"));
    let token = push_token_for("demo", &[], false);
    let h = send(&mem, &isolate, get("/v2/proxy/demo/local/x/manifests/v1").auth(basic(&token)));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (401, "token_scope"));
}

#[test]
fn a_push_tokens_requests_stay_out_of_the_pull_log() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let token = push_token_for("demo", &[], true);
    let sign_in =
        send(&mem, &isolate, get(&format!("/v2/token?scope=repository:{REPO}:pull,push")).auth(basic(&token)));
    assert_eq!(sign_in.reply.status(), 200, "{}", body_text(&sign_in));
    assert!(sign_in.events.is_empty(), "{:?}", sign_in.events);
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    assert_eq!(put_manifest(&mem, &isolate, &auth, REPO, "v1", &image_manifest(&config, &[])).reply.status(), 201);
    // skopeo's existence check before each blob it pushes, and CI pulling back with the token.
    let missing = sha(b"not pushed");
    let check = send(&mem, &isolate, get(&format!("/v2/{REPO}/blobs/{missing}")).method("HEAD").auth(auth.clone()));
    assert_eq!(check.reply.status(), 404);
    let ci_pull = send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/v1")).auth(basic(&token)));
    assert_eq!(ci_pull.reply.status(), 200, "{}", body_text(&ci_pull));
    assert!(check.events.is_empty() && ci_pull.events.is_empty(), "{:?} {:?}", check.events, ci_pull.events);
    // The same pull with a customer's license is in it.
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/v1")).auth(lic));
    assert_eq!((h.reply.status(), h.events.len()), (200, 1));
    assert_eq!(h.events[0].customer.as_deref(), Some("Globex"));
}

#[test]
fn chunked_uploads_follow_r2_part_rules_and_content_range() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let h = send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/"), &auth));
    assert_eq!(h.reply.status(), 202);
    assert_eq!(h.reply.header("oci-chunk-min-length"), Some(MIN_CHUNK.to_string().as_str()));
    let location = h.reply.header("location").unwrap().to_string();
    let chunk = MIN_CHUNK as usize;
    let blob: Vec<u8> = (0..chunk * 2 + 10).map(|i| (i % 251) as u8).collect();
    // A chunk that does not start at the upload's offset: 416 with where to resume.
    with_body(&mem, &blob[..chunk], Some(&format!("10-{}", chunk + 9)), None);
    let h = send(&mem, &isolate, req("PATCH", &location, &auth));
    assert_eq!((h.reply.status(), h.reply.header("range")), (416, Some("0-0")));
    for (i, part) in blob.chunks(chunk).take(2).enumerate() {
        let start = i * chunk;
        with_body(&mem, part, Some(&format!("{start}-{}", start + part.len() - 1)), None);
        let h = send(&mem, &isolate, req("PATCH", &location, &auth));
        assert_eq!(h.reply.status(), 202, "{}", body_text(&h));
        assert_eq!(h.reply.header("range"), Some(format!("0-{}", start + part.len() - 1).as_str()));
    }
    let h = send(&mem, &isolate, req("GET", &location, &auth));
    assert_eq!((h.reply.status(), h.reply.header("range")), (204, Some(format!("0-{}", chunk * 2 - 1).as_str())));
    // A wrong digest on close: DIGEST_INVALID, and the upload is gone.
    with_body(&mem, &blob[chunk * 2..], None, None);
    let h = send(&mem, &isolate, req("PUT", &format!("{location}?digest={}", sha(b"other")), &auth));
    assert_eq!(oci(&h).1, "DIGEST_INVALID");
    let h = send(&mem, &isolate, req("GET", &location, &auth));
    assert_eq!(oci(&h).1, "BLOB_UPLOAD_UNKNOWN");

    // Again, closed with the right digest.
    let h = send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/"), &auth));
    let location = h.reply.header("location").unwrap().to_string();
    for part in blob.chunks(chunk).take(2) {
        with_body(&mem, part, None, None);
        assert_eq!(send(&mem, &isolate, req("PATCH", &location, &auth)).reply.status(), 202);
    }
    with_body(&mem, &blob[chunk * 2..], None, None);
    let h = send(&mem, &isolate, req("PUT", &format!("{location}?digest={}", sha(&blob)), &auth));
    assert_eq!(h.reply.status(), 201, "{}", body_text(&h));
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/blobs/{}", sha(&blob))).auth(auth.clone()));
    assert_eq!(body(&h), blob.as_slice());
}

#[test]
fn a_short_chunk_must_be_the_last() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let h = send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/"), &auth));
    let location = h.reply.header("location").unwrap().to_string();
    with_body(&mem, b"small", None, None);
    assert_eq!(send(&mem, &isolate, req("PATCH", &location, &auth)).reply.status(), 202);
    with_body(&mem, b"more", None, None);
    let h = send(&mem, &isolate, req("PATCH", &location, &auth));
    assert_eq!((h.reply.status(), h.reply.header("range")), (416, Some("0-4")));
    let h = send(&mem, &isolate, req("DELETE", &location, &auth));
    assert_eq!(h.reply.status(), 204);
}

#[test]
fn a_body_over_the_limit_is_413_with_what_to_do() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    mem.vars.borrow_mut().insert("HOSTED_BODY_LIMIT", "8".into());
    let auth = pusher(&mem, &isolate, REPO);
    with_body(&mem, b"nine bytes", None, None);
    let h =
        send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/?digest={}", sha(b"nine bytes")), &auth));
    let (status, code, message, reason) = oci(&h);
    assert_eq!((status, code.as_str(), reason.as_str()), (413, "SIZE_INVALID", "body_too_large"));
    assert!(message.contains("pullgate push"), "{message}");
}

#[test]
fn manifests_must_name_blobs_the_repository_has() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    let h = put_manifest(&mem, &isolate, &auth, REPO, "v1", &image_manifest(&config, &[&sha(b"never pushed")]));
    assert_eq!((h.reply.status(), oci(&h).1.as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    // ...and no tag was written.
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/v1")).auth(auth.clone()));
    assert_eq!(oci(&h).1, "MANIFEST_UNKNOWN");
    // A blob of another repository of the app is not this repository's until mounted.
    let other = "proxy/demo/hosted/team/other";
    let auth_both = {
        let scope = format!("repository:{REPO}:pull,push&scope=repository:{other}:pull,push");
        format!("Bearer {}", token_for(&mem, &isolate, DEFAULT_HOST, &push_token_for("demo", &[], false), &scope))
    };
    let layer = push_blob(&mem, &isolate, &auth_both, other, b"theirs");
    let h = put_manifest(&mem, &isolate, &auth_both, REPO, "v1", &image_manifest(&config, &[&layer]));
    assert_eq!(oci(&h).1, "MANIFEST_BLOB_UNKNOWN");
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/blobs/{layer}")).auth(auth_both.clone()));
    assert_eq!(oci(&h).1, "BLOB_UNKNOWN");
    let h =
        send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/?mount={layer}&from={other}"), &auth_both));
    assert_eq!(h.reply.status(), 201, "{}", body_text(&h));
    let h = put_manifest(&mem, &isolate, &auth_both, REPO, "v1", &image_manifest(&config, &[&layer]));
    assert_eq!(h.reply.status(), 201, "{}", body_text(&h));
    // A wrong digest in the URL.
    let h = put_manifest(&mem, &isolate, &auth_both, REPO, &sha(b"x").to_string(), &image_manifest(&config, &[&layer]));
    assert_eq!(oci(&h).1, "DIGEST_INVALID");
}

#[test]
fn tags_page_with_n_and_last() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    for tag in ["b", "a", "d", "c"] {
        assert_eq!(put_manifest(&mem, &isolate, &auth, REPO, tag, &image_manifest(&config, &[])).reply.status(), 201);
    }
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/tags/list")).auth(auth.clone()));
    assert_eq!(json(&h)["tags"], serde_json::json!(["a", "b", "c", "d"]));
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/tags/list?n=2&last=a")).auth(auth.clone()));
    assert_eq!(json(&h)["tags"], serde_json::json!(["b", "c"]));
    assert_eq!(h.reply.header("link"), Some(format!("</v2/{REPO}/tags/list?n=2&last=c>; rel=\"next\"").as_str()));
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/tags/list?n=2&last=c")).auth(auth.clone()));
    assert_eq!((json(&h)["tags"].clone(), h.reply.header("link")), (serde_json::json!(["d"]), None));
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/tags/list?n=0")).auth(auth));
    assert_eq!(json(&h)["tags"], serde_json::json!([]));
}

#[test]
fn referrers_list_subjects_filtered_by_artifact_type_and_deletes_clean_up() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    let image = image_manifest(&config, &[]);
    assert_eq!(put_manifest(&mem, &isolate, &auth, REPO, "v1", &image).reply.status(), 201);
    let subject = sha(&image);
    let mut ids = Vec::new();
    for kind in ["application/vnd.example.sbom", "application/vnd.example.sig"] {
        let artifact = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": kind,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.to_string(), "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.to_string(), "size": image.len()},
        }))
        .unwrap();
        let h = put_manifest(&mem, &isolate, &auth, REPO, &sha(&artifact).to_string(), &artifact);
        assert_eq!(h.reply.header("oci-subject"), Some(subject.to_string().as_str()));
        ids.push(sha(&artifact));
    }
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/referrers/{subject}")).auth(auth.clone()));
    assert_eq!(json(&h)["manifests"].as_array().unwrap().len(), 2);
    let h = send(
        &mem,
        &isolate,
        get(&format!("/v2/{REPO}/referrers/{subject}?artifactType=application/vnd.example.sig")).auth(auth.clone()),
    );
    assert_eq!(json(&h)["manifests"][0]["digest"], ids[1].to_string());
    assert_eq!(json(&h)["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(h.reply.header("oci-filters-applied"), Some("artifactType"));

    // Deleting a referrer removes it from the list; deleting the tag leaves the manifest.
    let h = send(&mem, &isolate, req("DELETE", &format!("/v2/{REPO}/manifests/{}", ids[1]), &auth));
    assert_eq!(h.reply.status(), 202);
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/referrers/{subject}")).auth(auth.clone()));
    assert_eq!(json(&h)["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(send(&mem, &isolate, req("DELETE", &format!("/v2/{REPO}/manifests/v1"), &auth)).reply.status(), 202);
    assert_eq!(
        oci(&send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/v1")).auth(auth.clone()))).1,
        "MANIFEST_UNKNOWN"
    );
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/{subject}")).auth(auth.clone()));
    assert_eq!(h.reply.status(), 200);
    let h = send(&mem, &isolate, req("DELETE", &format!("/v2/{REPO}/blobs/{config}"), &auth));
    assert_eq!(h.reply.status(), 202);
    assert_eq!(oci(&send(&mem, &isolate, get(&format!("/v2/{REPO}/blobs/{config}")).auth(auth))).1, "BLOB_UNKNOWN");
}

#[test]
fn licenses_never_push_and_tokens_stay_in_their_app() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let lic = license("lic_1", "demo", "Globex", &[]);
    let path = format!("/v2/{REPO}/blobs/uploads/");
    let h = send(&mem, &isolate, req("POST", &path, &basic(&lic)));
    assert_eq!(oci(&h).3, "license_cannot_push");
    // The token endpoint grants a license pull only, so its token cannot push either.
    let bearer = token_for(&mem, &isolate, DEFAULT_HOST, &lic, &format!("repository:{REPO}:pull,push"));
    let h = send(&mem, &isolate, req("POST", &path, &format!("Bearer {bearer}")));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (403, "license_cannot_push"));
    // A push token of another app gets nothing for demo's repositories, push or pull.
    let other = push_token_for("other", &[], true);
    let h = send(&mem, &isolate, get(&format!("/v2/token?scope=repository:{REPO}:pull,push")).auth(basic(&other)));
    let token = json(&h)["token"].as_str().unwrap().to_string();
    let claims = crate::token::verify(&token, &crate::keys::SigningKeys::from_keys(vec![signing_key()]), NOW).unwrap();
    assert!(claims.rep.is_empty() && claims.push.is_empty());
    let h = send(&mem, &isolate, req("POST", &path, &basic(&other)));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (403, "push_not_allowed"));
    let h = send(&mem, &isolate, get(&format!("/v2/{REPO}/manifests/v1")).auth(format!("Bearer {token}")));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (403, "push_not_allowed"));
    assert!(body_text(&h).contains("this push token is for app other, not demo"), "{}", body_text(&h));
    // Patterns narrow a token; a proxied upstream takes no push at all.
    let narrow = push_token_for("demo", &["team/web"], false);
    assert_eq!(oci(&send(&mem, &isolate, req("POST", &path, &basic(&narrow)))).3, "push_not_allowed");
    let h = send(&mem, &isolate, req("POST", "/v2/proxy/demo/local/x/blobs/uploads/", &basic(&narrow)));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (405, "not_hosted"));
    // Revoked.
    let full = push_token_for("demo", &[], false);
    mem.revoke("pt_1", NOW);
    assert_eq!(oci(&send(&mem, &Isolate::default(), req("POST", &path, &basic(&full)))).3, "push_token_invalid");
}

#[test]
fn the_quota_refuses_what_does_not_fit() {
    let mem = Mem::new();
    let mut app = app("demo", BlobMode::Redirect);
    app.hosted_quota = Some(10);
    mem.put(&store::app_key("demo"), &app);
    let isolate = Isolate::default();
    let auth = pusher(&mem, &isolate, REPO);
    push_blob(&mem, &isolate, &auth, REPO, b"12345678");
    with_body(&mem, b"abc", None, None);
    let h = send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/?digest={}", sha(b"abc")), &auth));
    assert_eq!((h.reply.status(), oci(&h).3.as_str()), (403, "quota_exceeded"));
    // The same blob again takes no space.
    push_blob(&mem, &isolate, &auth, REPO, b"12345678");
}

#[test]
fn the_admin_channel_takes_only_a_short_lived_admin_token_and_guards_its_deletes() {
    let (mem, isolate) = (Mem::new(), Isolate::default());
    let auth = pusher(&mem, &isolate, REPO);
    let config = push_blob(&mem, &isolate, &auth, REPO, b"{}");
    let manifest = image_manifest(&config, &[]);
    assert_eq!(put_manifest(&mem, &isolate, &auth, REPO, &sha(&manifest).to_string(), &manifest).reply.status(), 201);
    let manifest_key = crate::service::hosted::layout::manifest("demo", "team/app", &sha(&manifest));

    let admin = admin_token(600);
    let h = send(&mem, &isolate, get("/_pullgate/hosted/objects?bodies=1").auth(admin.clone()));
    assert_eq!(h.reply.status(), 200, "{}", body_text(&h));
    let page: crate::service::hosted::admin::Page = serde_json::from_slice(body(&h)).unwrap();
    assert_eq!(page.now, NOW);
    let listed = page.entries.iter().find(|e| e.key == manifest_key).expect("the manifest is listed");
    assert_eq!(listed.body.as_deref().map(str::as_bytes), Some(manifest.as_slice()));
    assert!(page.entries.iter().all(|e| e.key.starts_with("demo/")));

    // A push token, a license and a long-lived admin token are refused; an admin token never pushes.
    let push = format!("Bearer {}", push_token_for("demo", &[], true));
    let lic = basic(&license("lic_1", "demo", "Globex", &[]));
    for (who, status) in [(push, 403), (admin_token(3600), 403), (lic, 401), (String::new(), 401)] {
        let h = send(&mem, &isolate, get("/_pullgate/hosted/objects").auth(who.clone()));
        assert_eq!(h.reply.status(), status, "{who}: {}", body_text(&h));
    }
    let basic_admin = basic(admin.trim_start_matches("Bearer "));
    let h = send(&mem, &isolate, req("POST", &format!("/v2/{REPO}/blobs/uploads/"), &basic_admin));
    assert_eq!(h.reply.status(), 401, "an admin token pushed: {}", body_text(&h));

    let delete = |body: serde_json::Value| {
        with_body(&mem, body.to_string().as_bytes(), None, Some("application/json"));
        send(&mem, &isolate, req("POST", "/_pullgate/hosted/delete", &admin))
    };
    // Another app's key, or the usage record, are refused and nothing is deleted.
    for key in ["other/repos/x/_tags/v1", "demo/usage"] {
        let h = delete(serde_json::json!({ "since": NOW + 1, "keys": [key, manifest_key] }));
        assert_eq!(h.reply.status(), 400, "{}", body_text(&h));
    }
    // A repository written since the snapshot began keeps its keys; otherwise they go.
    let h = delete(serde_json::json!({ "since": NOW, "keys": [manifest_key] }));
    let answer: crate::service::hosted::admin::DeleteAnswer = serde_json::from_slice(body(&h)).unwrap();
    assert_eq!((answer.deleted, answer.skipped.clone()), (0, vec![manifest_key.clone()]));
    assert!(mem.bucket.objects.borrow().contains_key(&manifest_key));
    let h = delete(serde_json::json!({ "since": NOW + 1, "keys": [manifest_key], "usage": 7 }));
    let answer: crate::service::hosted::admin::DeleteAnswer = serde_json::from_slice(body(&h)).unwrap();
    assert_eq!((answer.deleted, answer.skipped.len()), (1, 0));
    assert!(!mem.bucket.objects.borrow().contains_key(&manifest_key));
    assert_eq!(mem.bucket.objects.borrow()["demo/usage"].0, br#"{"bytes":7}"#.to_vec());
}
