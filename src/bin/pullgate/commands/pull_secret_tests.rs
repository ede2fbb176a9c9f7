//! Tests of `license pull-secret`: the three shapes carry the same document, every entry has
//! both credential forms, and hosts are the app's unless narrowed.

use super::*;
use crate::cli::{Command, LicenseCommand};
use crate::commands::test_support::{ctx_with_wrangler_config, put_app, temp_dir, with_root, write_file};

const LICENSE: &str = "pgl1.k1.eyJpZCI6ImxpY18xIn0.bWFj";

/// The value at a dotted `path` of block YAML as `helm_values` writes it (two-space indents,
/// one key per line, quoted scalars), so the test reads what Helm would, line by line.
fn yaml_value(yaml: &str, path: &[&str]) -> Option<String> {
    let mut depth = 0;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let (key, value) = line.trim_start().split_once(':')?;
        if indent == depth * 2 && key == path[depth] {
            if depth + 1 == path.len() {
                return Some(value.trim().trim_matches('"').to_string());
            }
            depth += 1;
        }
    }
    None
}

#[test]
fn the_helm_snippet_decodes_to_the_dockerconfigjson() {
    let hosts = vec!["images.acme.com".to_string(), "pullgate.acme.workers.dev".to_string()];
    let json = serde_json::to_string(&docker_config(&hosts, LICENSE)).unwrap();
    let key = vec!["myapp".to_string(), "imagePullSecret".to_string()];
    let values = helm_values(&json, Some(&key));
    for path in [&["global", "pullgate", "dockerconfigjson"][..], &["myapp", "imagePullSecret"][..]] {
        let encoded = yaml_value(&values, path).unwrap_or_else(|| panic!("{path:?} missing from\n{values}"));
        assert_eq!(String::from_utf8(B64.decode(encoded).unwrap()).unwrap(), json, "{path:?}");
    }
    let secret = k8s_secret(&json, "pullgate-acme", Some("prod"));
    let encoded = yaml_value(&secret, &["data", ".dockerconfigjson"]).unwrap();
    assert_eq!(String::from_utf8(B64.decode(encoded).unwrap()).unwrap(), json);
    assert_eq!(yaml_value(&secret, &["type"]).as_deref(), Some("kubernetes.io/dockerconfigjson"));
    assert_eq!(yaml_value(&secret, &["metadata", "namespace"]).as_deref(), Some("prod"));
}

#[test]
fn every_entry_has_auth_and_username_password() {
    let doc: serde_json::Value = serde_json::to_value(docker_config(&["127.0.0.1:8787".to_string()], LICENSE)).unwrap();
    let entry = &doc["auths"]["127.0.0.1:8787"];
    assert_eq!(entry["username"], USERNAME);
    assert_eq!(entry["password"], LICENSE);
    let auth = B64.decode(entry["auth"].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(auth).unwrap(), format!("{USERNAME}:{LICENSE}"));
}

#[test]
fn hosts_are_the_apps_domains_and_the_workers_public_hosts() {
    with_root();
    let dir = temp_dir();
    let toml = write_file(&dir, "wrangler.toml", "[vars]\nDEFAULT_HOSTS = \"127.0.0.1, pullgate.acme.workers.dev\"\n");
    let ctx = ctx_with_wrangler_config(&toml);
    put_app(&ctx, "acme");
    put_app(&ctx, "other");
    for (host, app) in [("images.acme.com", "acme"), ("images.other.com", "other")] {
        let record = DomainRecord { v: 1, host: host.into(), app: app.into(), created_at: 0 };
        ctx.kv().unwrap().put_many(&[(store::domain_key(host), kv::encode(&record).unwrap())]).unwrap();
    }
    assert_eq!(served_hosts(&ctx, "acme", false).unwrap(), ["images.acme.com", "pullgate.acme.workers.dev"]);
    assert!(served_hosts(&ctx, "acme", true).unwrap().contains(&"127.0.0.1".to_string()));

    crate::commands::run(&ctx, Command::Key(crate::cli::KeyCommand::Init { root_secret_out: None })).unwrap();
    let issue =
        LicenseCommand::Issue { app: "acme".into(), customer: "Globex".into(), expires: "30d".into(), images: vec![] };
    crate::commands::run(&ctx, Command::License(issue)).unwrap();
    let snapshot = crate::commands::test_support::snapshot(&ctx);
    let id = snapshot.keys().find_map(|k| k.strip_prefix("license:")).unwrap().to_string();
    let args = |registries: &[&str]| PullSecretArgs {
        id: id.clone(),
        registries: registries.iter().map(|r| r.to_string()).collect(),
        format: PullSecretFormat::Dockerconfigjson,
        name: None,
        namespace: None,
        values_key: None,
    };
    run(&ctx, &args(&[])).unwrap();
    run(&ctx, &args(&["127.0.0.1:8787"])).unwrap();
    let err = run(&ctx, &args(&["images.other.com"])).unwrap_err();
    assert!(err.message.contains("not served on images.other.com"), "{}", err.message);
    for bad in ["https://x", "a:99999", "", "a b"] {
        assert!(run(&ctx, &args(&[bad])).is_err(), "{bad:?}");
    }
    assert!(k8s_name("Bad_Name", "name").is_err() && k8s_name("a.b", "namespace").is_err());
    assert!(values_key("a..b").is_err() && values_key("a.b-c_d").is_ok());
}
