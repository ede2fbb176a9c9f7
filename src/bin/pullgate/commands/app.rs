//! `pullgate app add|list|show|remove`: the `app:<slug>` records.

use pullgate::store::{self, AppRecord, BlobMode, DomainRecord, SCHEMA_VERSION};
use serde::Serialize;

use super::upstream::UpstreamView;
use super::{no_such_app, Ctx};
use crate::cli::{AppCommand, BlobModeArg};
use crate::failure::{Failure, Outcome};
use crate::kv;
use crate::output::{table, timestamp};
use crate::validate;

pub fn run(ctx: &Ctx, command: AppCommand) -> Outcome<()> {
    match command {
        AppCommand::Add { slug, name, blob_mode } => add(ctx, &slug, name.as_deref(), blob_mode),
        AppCommand::List => list(ctx),
        AppCommand::Show { slug, registry } => show(ctx, &slug, registry.as_deref()),
        AppCommand::Remove { slug } => remove(ctx, &slug),
    }
}

/// `--json` shape of an app.
#[derive(Serialize)]
pub struct AppView {
    slug: String,
    name: String,
    blob_mode: &'static str,
    created_at: String,
    upstreams: Vec<UpstreamView>,
    domains: Vec<String>,
}

impl AppView {
    fn new(app: &AppRecord, domains: Vec<String>) -> Self {
        AppView {
            slug: app.slug.clone(),
            name: app.name.clone(),
            blob_mode: app.blob_mode.as_str(),
            created_at: timestamp(app.created_at),
            upstreams: app.upstreams.iter().map(|u| UpstreamView::new(&app.slug, u, None)).collect(),
            domains,
        }
    }
}

fn add(ctx: &Ctx, slug: &str, name: Option<&str>, blob_mode: BlobModeArg) -> Outcome<()> {
    let slug = validate::slug(slug)?;
    let name = validate::label(name.unwrap_or(&slug), "app name", 100)?;
    let blob_mode = match blob_mode {
        BlobModeArg::Redirect => BlobMode::Redirect,
        BlobModeArg::Stream => BlobMode::Stream,
    };
    let kv = ctx.kv()?;
    let key = store::app_key(&slug);
    if kv.get(&key)?.is_some() {
        return Err(Failure::failed(format!("app {slug:?} already exists"))
            .hint(format!("see it with `pullgate app show {slug}`")));
    }
    let app = AppRecord {
        v: SCHEMA_VERSION,
        slug: slug.clone(),
        name,
        blob_mode,
        created_at: ctx.now,
        upstreams: vec![],
        hosted_quota: None,
    };
    kv.put_many(&[(key, kv::encode(&app)?)])?;
    ctx.out.result(&AppView::new(&app, vec![]), || {
        format!(
            "app {slug} created (blob mode {}).\nnext: pullgate upstream add <endpoint> --app {slug} …",
            app.blob_mode.as_str()
        )
    })
}

/// Every app and every domain record, in one list and one batched get.
fn load_apps_and_domains(ctx: &Ctx) -> Outcome<(Vec<AppRecord>, Vec<DomainRecord>)> {
    let loaded = kv::load_prefixes(ctx.kv()?, &[store::APP_PREFIX, store::DOMAIN_PREFIX])?;
    Ok((kv::records(&loaded, store::APP_PREFIX)?, kv::records(&loaded, store::DOMAIN_PREFIX)?))
}

fn domains_of(domains: &[DomainRecord], slug: &str) -> Vec<String> {
    domains.iter().filter(|d| d.app == slug).map(|d| d.host.clone()).collect()
}

fn list(ctx: &Ctx) -> Outcome<()> {
    let (apps, domains) = load_apps_and_domains(ctx)?;
    let views: Vec<AppView> = apps.iter().map(|a| AppView::new(a, domains_of(&domains, &a.slug))).collect();
    ctx.out.result(&views, || {
        if apps.is_empty() {
            return "no apps yet: create one with `pullgate app add <slug>`".to_string();
        }
        let rows: Vec<Vec<String>> = apps
            .iter()
            .map(|a| {
                let hosts = domains_of(&domains, &a.slug);
                vec![
                    a.slug.clone(),
                    a.name.clone(),
                    a.blob_mode.as_str().to_string(),
                    a.upstreams.len().to_string(),
                    if hosts.is_empty() { "-".to_string() } else { hosts.join(",") },
                    pullgate::time::format_date(a.created_at),
                ]
            })
            .collect();
        table(&["slug", "name", "blob mode", "upstreams", "domains", "created"], &rows)
    })
}

fn show(ctx: &Ctx, slug: &str, registry: Option<&str>) -> Outcome<()> {
    let slug = validate::slug(slug)?;
    let (apps, domains) = load_apps_and_domains(ctx)?;
    let app = apps.into_iter().find(|a| a.slug == slug).ok_or_else(|| no_such_app(&slug))?;
    let hosts = domains_of(&domains, &slug);
    let hosted = match registry {
        Some(url) if app.upstreams.iter().any(|u| u.hosted) => {
            let snapshot = super::hosted_admin::Admin::open(ctx, &slug, url)?.snapshot(true)?.1;
            Some(pullgate::service::hosted::gc::repo_sizes(&slug, &snapshot))
        }
        Some(_) => Some(Vec::new()),
        None => None,
    };
    let mut view = serde_json::to_value(AppView::new(&app, hosts.clone()))
        .map_err(|e| crate::failure::Failure::failed(format!("app view: {e}")))?;
    if let (Some(sizes), Some(map)) = (&hosted, view.as_object_mut()) {
        let repos: Vec<_> = sizes.iter().map(|(r, b)| serde_json::json!({ "repo": r, "bytes": b })).collect();
        map.insert("hosted_repositories".into(), serde_json::Value::Array(repos));
    }
    ctx.out.result(&view, || {
        let mut text = format!(
            "app:        {}\nname:       {}\nblob mode:  {}\ncreated:    {}\ndomains:    {}\n",
            app.slug,
            app.name,
            app.blob_mode.as_str(),
            timestamp(app.created_at),
            if hosts.is_empty() { "-".to_string() } else { hosts.join(", ") }
        );
        if app.upstreams.is_empty() {
            text.push_str("upstreams:  none (add one with `pullgate upstream add`)");
        } else {
            text.push_str("upstreams:\n");
            text.push_str(&super::upstream::upstream_table(&app));
        }
        match &hosted {
            Some(sizes) if sizes.is_empty() => text.push_str("\nhosted:     no repositories"),
            Some(sizes) => {
                text.push_str("\nhosted repositories:\n");
                let rows: Vec<Vec<String>> = sizes.iter().map(|(r, b)| vec![r.clone(), b.to_string()]).collect();
                text.push_str(&crate::output::table(&["repository", "bytes"], &rows));
            }
            None => {}
        }
        text
    })
}

fn remove(ctx: &Ctx, slug: &str) -> Outcome<()> {
    let slug = validate::slug(slug)?;
    let (apps, domains) = load_apps_and_domains(ctx)?;
    if !apps.iter().any(|a| a.slug == slug) {
        return Err(no_such_app(&slug));
    }
    let hosts = domains_of(&domains, &slug);
    let mut keys = vec![store::app_key(&slug)];
    keys.extend(hosts.iter().map(|h| store::domain_key(h)));
    // One bulk delete: the app and its domains disappear together.
    ctx.kv()?.delete_many(&keys)?;
    let json = serde_json::json!({ "removed": { "app": slug, "domains": hosts } });
    ctx.out.result(&json, || {
        let mut text = format!("app {slug} removed, with its upstreams");
        if !hosts.is_empty() {
            text.push_str(&format!(" and domains {}", hosts.join(", ")));
        }
        text.push_str(".\nLicenses issued for it stay recorded; the edge refuses them now that the app is gone.");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::{ctx, snapshot};

    #[test]
    fn add_show_remove_round_trip() {
        let ctx = ctx();
        add(&ctx, "acme", Some("Acme Inc"), BlobModeArg::Stream).unwrap();
        let map = snapshot(&ctx);
        let app: AppRecord = serde_json::from_str(&map["app:acme"]).unwrap();
        assert_eq!((app.name.as_str(), app.blob_mode), ("Acme Inc", BlobMode::Stream));
        show(&ctx, "acme", None).unwrap();
        let again = add(&ctx, "acme", None, BlobModeArg::Redirect).unwrap_err();
        assert!(again.message.contains("already exists"));
        ctx.kv()
            .unwrap()
            .put_many(&[
                (
                    "domain:images.acme.com".into(),
                    r#"{"v":1,"host":"images.acme.com","app":"acme","created_at":0}"#.into(),
                ),
                (
                    "domain:other.example.com".into(),
                    r#"{"v":1,"host":"other.example.com","app":"other","created_at":0}"#.into(),
                ),
            ])
            .unwrap();
        remove(&ctx, "acme").unwrap();
        let left: Vec<String> = snapshot(&ctx).into_keys().collect();
        assert_eq!(left, ["domain:other.example.com"]);
        assert!(remove(&ctx, "acme").is_err());
    }

    #[test]
    fn bad_input_writes_nothing() {
        let ctx = ctx();
        for (slug, name) in [("Bad", None), ("ok", Some("")), ("ok", Some("a\nb"))] {
            let err = add(&ctx, slug, name, BlobModeArg::Redirect).unwrap_err();
            assert_eq!(err.exit, crate::failure::Exit::Usage);
        }
        assert!(snapshot(&ctx).is_empty());
    }
}
