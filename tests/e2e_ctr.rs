//! End to end with containerd's own client: `ctr content fetch` through the edge takes
//! containerd's OAuth POST token path (the one peers broke), then pulls an index and its children.

mod common;

use common::containerd::{containerd, ctr};
use common::*;

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn ctr_fetches_an_index_through_the_post_token_flow() {
    let d = dev();
    let license = env("PULLGATE_LICENSE");
    let daemon = containerd(&temp_dir("containerd"));
    let image = d.image("demo/multi", "1.0");
    let token_posts = || {
        d.access_log().iter().filter(|r| r["method"] == "POST" && r["action"] == "token" && r["status"] == 200).count()
    };
    let posts_before = token_posts();

    let reference = format!("{}/proxy/demo/local/demo/multi:1.0", d.authority);
    let user = format!("x:{license}");
    let (ok, text) = ctr(&daemon, &["content", "fetch", "--plain-http", "--user", &user, &reference]);
    assert!(ok, "{text}");
    let (_, listed) = ctr(&daemon, &["content", "ls", "-q"]);
    assert!(listed.contains(&image.digest), "index {} not in the content store:\n{listed}", image.digest);
    let (child, _, _) = &image.children[0];
    assert!(listed.contains(child.as_str()), "first platform's manifest not fetched:\n{listed}");
    assert!(token_posts() > posts_before, "containerd did not use the POST token flow");

    // An expired license: containerd's token request is refused, nothing is fetched.
    let expired = format!("x:{}", env("PULLGATE_LICENSE_EXPIRED"));
    let other = format!("{}/proxy/demo/local/demo/legacy:1.0", d.authority);
    let (ok, text) = ctr(&daemon, &["content", "fetch", "--plain-http", "--user", &expired, &other]);
    assert!(!ok, "an expired license fetched content");
    // containerd 1.6 (Debian's) prints only the token endpoint's status line, never its body, and
    // the reason phrase cannot carry a message (workers-rs sets none, and HTTP/2 has none): what
    // ctr can show is that the license was refused at sign-in (401), not a missing image.
    assert!(text.contains("failed to fetch oauth token") && text.contains("401"), "{text}");
    // The message is in the answer containerd got: its POST token request, repeated over HTTP.
    let refused = d
        .access_log()
        .into_iter()
        .rev()
        .find(|r| r["method"] == "POST" && r["action"] == "token" && r["status"] == 401)
        .expect("containerd's refused POST token request in the access log");
    assert_eq!(refused["error"], "UNAUTHORIZED", "{refused}");
    // Another app's license on app demo's custom domain (`localhost`): refused the same way.
    let port = d.authority.rsplit(':').next().unwrap();
    let on_custom_domain = format!("localhost:{port}/local/demo/hello:1.0");
    let wrong_app = format!("x:{}", env("PULLGATE_LICENSE_OTHER"));
    let (ok, text) = ctr(&daemon, &["content", "fetch", "--plain-http", "--user", &wrong_app, &on_custom_domain]);
    assert!(!ok, "another app's license fetched content");
    assert!(text.contains("failed to fetch oauth token") && text.contains("401"), "{text}");
}

#[test]
#[ignore = "needs scripts/dev --background; run by scripts/test"]
fn ctr_pulls_with_the_credentials_of_a_k8s_pull_secret() {
    use base64::Engine as _;
    let d = dev();
    let issued: serde_json::Value = serde_json::from_str(&pullgate_ok(&[
        "--json",
        "license",
        "issue",
        "--app",
        "demo",
        "--customer",
        "Cluster Customer",
        "--expires",
        "7d",
    ]))
    .expect("license issue --json");
    let id = issued["id"].as_str().unwrap();
    let secret = pullgate_ok(&["license", "pull-secret", id, "--format", "k8s", "--registry", &d.authority]);
    assert!(secret.contains("type: kubernetes.io/dockerconfigjson"), "{secret}");
    // What kubelet reads: the base64 `.dockerconfigjson` data, then the entry for this registry.
    let encoded = secret
        .lines()
        .find_map(|l| l.trim().strip_prefix(".dockerconfigjson:"))
        .map(|v| v.trim().trim_matches('"'))
        .unwrap_or_else(|| panic!("no .dockerconfigjson in the Secret:\n{secret}"));
    let document = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64 data");
    let document: serde_json::Value = serde_json::from_slice(&document).expect("dockerconfigjson");
    let entry = &document["auths"][d.authority.as_str()];
    let user = format!("{}:{}", entry["username"].as_str().unwrap(), entry["password"].as_str().unwrap());
    assert_eq!(entry["password"].as_str(), issued["license"].as_str());

    let daemon = containerd(&temp_dir("containerd-secret"));
    let image = d.image("demo/hello", "1.0");
    let reference = format!("{}/proxy/demo/local/demo/hello:1.0", d.authority);
    let (ok, text) = ctr(&daemon, &["content", "fetch", "--plain-http", "--user", &user, &reference]);
    assert!(ok, "{text}");
    let (_, listed) = ctr(&daemon, &["content", "ls", "-q"]);
    assert!(listed.contains(&image.digest), "manifest {} not in the content store:\n{listed}", image.digest);
}
