//! `pullgate domain add|list|remove`: the `domain:<host>` records that map a custom domain to
//! an app, and the DNS record the vendor must create for it.

use pullgate::store::{self, DomainRecord, SCHEMA_VERSION};
use serde::Serialize;

use super::{no_such_app, Ctx};
use crate::cli::DomainCommand;
use crate::failure::{Failure, Outcome};
use crate::kv;
use crate::output::table;
use crate::settings::{env, ENV_CNAME_TARGET};
use crate::validate;

pub fn run(ctx: &Ctx, command: DomainCommand) -> Outcome<()> {
    match command {
        DomainCommand::Add { host, app, cname_target, insecure_dev } => {
            add(ctx, &host, &app, cname_target.as_deref(), insecure_dev)
        }
        DomainCommand::List { app } => list(ctx, app.as_deref()),
        DomainCommand::Remove { host, app } => remove(ctx, &host, &app),
    }
}

#[derive(Serialize)]
struct DomainView {
    host: String,
    app: String,
    created_at: String,
}

impl From<&DomainRecord> for DomainView {
    fn from(d: &DomainRecord) -> Self {
        DomainView { host: d.host.clone(), app: d.app.clone(), created_at: crate::output::timestamp(d.created_at) }
    }
}

/// Where the CNAME target came from; `Placeholder` when nothing names the Worker's hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetSource {
    Flag,
    Env,
    WranglerConfig,
    Placeholder,
}

/// The CNAME target: `--cname-target`, PULLGATE_CNAME_TARGET, the first public host the
/// Worker's wrangler.toml names (DEFAULT_HOSTS, then routes) other than the domain itself, or
/// an honest placeholder built from the Worker's name.
fn cname_target(
    ctx: &Ctx,
    flag: Option<&str>,
    from_env: Option<String>,
    domain: &str,
) -> Outcome<(String, TargetSource)> {
    if let Some(target) = flag {
        return Ok((validate::hostname(target)?, TargetSource::Flag));
    }
    if let Some(target) = from_env {
        return Ok((validate::hostname(&target)?, TargetSource::Env));
    }
    let config = ctx.backend_options().wrangler_config().ok().flatten().unwrap_or_default();
    let public = config
        .worker_hosts
        .iter()
        .filter(|h| !validate::is_loopback(h))
        .filter_map(|h| validate::hostname(h).ok())
        .find(|h| h != domain);
    if let Some(target) = public {
        return Ok((target, TargetSource::WranglerConfig));
    }
    let worker = config.name.unwrap_or_else(|| "pullgate".to_string());
    Ok((format!("{worker}.<your-subdomain>.workers.dev"), TargetSource::Placeholder))
}

fn add(ctx: &Ctx, host: &str, app: &str, cname_flag: Option<&str>, insecure_dev: bool) -> Outcome<()> {
    if insecure_dev {
        ctx.refuse_insecure_dev_in_production()?;
    }
    let host = if insecure_dev && host.trim().eq_ignore_ascii_case("localhost") {
        "localhost".to_string()
    } else {
        validate::hostname(host)?
    };
    let slug = validate::slug(app)?;
    let (target, source) = cname_target(ctx, cname_flag, env(ENV_CNAME_TARGET), &host)?;
    let target_known = source != TargetSource::Placeholder;
    if target == host {
        return Err(Failure::usage("the domain cannot be its own CNAME target"));
    }
    let kv = ctx.kv()?;
    let key = store::domain_key(&host);
    let found = kv.get_many(&[store::app_key(&slug), key.clone()])?;
    if found[0].is_none() {
        return Err(no_such_app(&slug));
    }
    let existing: Option<DomainRecord> = found[1].as_deref().map(|v| kv::decode(&key, v)).transpose()?;
    let already = match existing {
        Some(d) if d.app != slug => {
            return Err(Failure::failed(format!("{host} is already bound to app {:?}", d.app)).hint(format!(
                "a domain serves one app; unbind it first with `pullgate domain remove {host} --app {}`",
                d.app
            )))
        }
        Some(_) => true,
        None => false,
    };
    if !already {
        let record = DomainRecord { v: SCHEMA_VERSION, host: host.clone(), app: slug.clone(), created_at: ctx.now };
        kv.put_many(&[(key, kv::encode(&record)?)])?;
    }
    let json = serde_json::json!({
        "host": host,
        "app": slug,
        "already_bound": already,
        "cname_target": target_known.then_some(&target),
        "cname_target_known": target_known,
    });
    ctx.out.result(&json, || {
        let mut text = if already {
            format!("{host} was already bound to app {slug}; nothing changed.\n")
        } else {
            format!("{host} now serves app {slug}.\n")
        };
        text.push_str(&format!("\nCreate this DNS record at the domain's DNS provider:\n  {host}.  CNAME  {target}.\n"));
        if source == TargetSource::WranglerConfig {
            text.push_str("(the target is the Worker's host named in wrangler.toml; --cname-target overrides it)\n");
        }
        if !target_known {
            text.push_str(&format!(
                "\nThe Worker's hostname is not known to this CLI, so the target above is a placeholder:\n\
                 pass --cname-target, set {ENV_CNAME_TARGET}, or name it in wrangler.toml \
                 ([vars] DEFAULT_HOSTS = \"{worker}.<your-subdomain>.workers.dev\", or a route).\n",
                worker = target.split('.').next().unwrap_or("pullgate"),
            ));
        }
        text.push_str(&format!(
            "The Worker must also answer for {host}: add it as a Custom Domain (or a route) of the Worker in Cloudflare."
        ));
        text
    })
}

fn list(ctx: &Ctx, app: Option<&str>) -> Outcome<()> {
    let app = app.map(validate::slug).transpose()?;
    let loaded = kv::load_prefixes(ctx.kv()?, &[store::DOMAIN_PREFIX])?;
    let domains: Vec<DomainRecord> = kv::records(&loaded, store::DOMAIN_PREFIX)?
        .into_iter()
        .filter(|d: &DomainRecord| app.as_deref().is_none_or(|a| d.app == a))
        .collect();
    let views: Vec<DomainView> = domains.iter().map(DomainView::from).collect();
    ctx.out.result(&views, || {
        if domains.is_empty() {
            return "no custom domains: bind one with `pullgate domain add <host> --app <slug>`".to_string();
        }
        let rows: Vec<Vec<String>> = domains
            .iter()
            .map(|d| vec![d.host.clone(), d.app.clone(), pullgate::time::format_date(d.created_at)])
            .collect();
        table(&["host", "app", "created"], &rows)
    })
}

fn remove(ctx: &Ctx, host: &str, app: &str) -> Outcome<()> {
    let host = validate::hostname(host)?;
    let slug = validate::slug(app)?;
    let kv = ctx.kv()?;
    let key = store::domain_key(&host);
    let record: DomainRecord = kv::get_record(kv, &key)?
        .ok_or_else(|| Failure::failed(format!("{host} is not bound to any app")).hint("see `pullgate domain list`"))?;
    if record.app != slug {
        return Err(Failure::failed(format!("{host} is bound to app {:?}, not {slug:?}", record.app))
            .hint(format!("to unbind it: pullgate domain remove {host} --app {}", record.app)));
    }
    kv.delete_many(&[key])?;
    let json = serde_json::json!({ "removed": host, "app": slug });
    ctx.out.result(&json, || {
        format!("{host} no longer serves app {slug}. Remove its DNS record and the Worker's custom domain too.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::{ctx, ctx_with_wrangler_config, put_app, snapshot, temp_dir, write_file};

    fn with_apps() -> Ctx {
        let ctx = ctx();
        put_app(&ctx, "acme");
        put_app(&ctx, "globex");
        ctx
    }

    #[test]
    fn binds_once_and_refuses_another_app() {
        let ctx = with_apps();
        add(&ctx, "Images.Acme.com", "acme", Some("pullgate.acme.workers.dev"), false).unwrap();
        let rec: DomainRecord = serde_json::from_str(&snapshot(&ctx)["domain:images.acme.com"]).unwrap();
        assert_eq!(rec.app, "acme");
        add(&ctx, "images.acme.com", "acme", Some("pullgate.acme.workers.dev"), false).unwrap();
        let before = snapshot(&ctx);
        let err = add(&ctx, "images.acme.com", "globex", Some("pullgate.acme.workers.dev"), false).unwrap_err();
        assert!(err.message.contains("already bound to app \"acme\""), "{}", err.message);
        let err = remove(&ctx, "images.acme.com", "globex").unwrap_err();
        assert!(err.message.contains("bound to app \"acme\""));
        assert_eq!(snapshot(&ctx), before);
        remove(&ctx, "images.acme.com", "acme").unwrap();
        assert!(!snapshot(&ctx).contains_key("domain:images.acme.com"));
    }

    #[test]
    fn bad_input_writes_nothing() {
        let ctx = with_apps();
        let before = snapshot(&ctx);
        for (host, app) in
            [("localhost", "acme"), ("1.2.3.4", "acme"), ("images.acme.com", "nope"), ("images.acme.com", "BAD")]
        {
            assert!(add(&ctx, host, app, Some("t.workers.dev"), false).is_err(), "{host} {app}");
        }
        assert!(add(&ctx, "images.acme.com", "acme", Some("not a host"), false).is_err());
        assert!(remove(&ctx, "images.acme.com", "acme").is_err());
        assert_eq!(snapshot(&ctx), before);
    }

    #[test]
    fn localhost_only_with_insecure_dev() {
        let ctx = with_apps();
        assert!(add(&ctx, "localhost", "acme", Some("t.workers.dev"), false).is_err());
        add(&ctx, "localhost", "acme", Some("t.workers.dev"), true).unwrap();
        assert!(snapshot(&ctx).contains_key("domain:localhost"));
        assert!(add(&ctx, "local-host", "acme", Some("t.workers.dev"), true).is_err());
    }

    #[test]
    fn the_cname_target_comes_from_the_workers_hosts_in_wrangler_toml() {
        let tmp = temp_dir();
        let cases = [
            (
                "[vars]\nDEFAULT_HOSTS = \"127.0.0.1, pullgate.acme.workers.dev\"\n",
                "images.acme.com",
                "pullgate.acme.workers.dev",
                TargetSource::WranglerConfig,
            ),
            (
                "routes = [{ pattern = \"edge.acme.com\", custom_domain = true }]\n",
                "images.acme.com",
                "edge.acme.com",
                TargetSource::WranglerConfig,
            ),
            // The domain being bound is never its own target, so here nothing is known.
            (
                "route = \"images.acme.com/*\"\n[vars]\nDEFAULT_HOSTS = \"images.acme.com\"\n",
                "images.acme.com",
                "pullgate.<your-subdomain>.workers.dev",
                TargetSource::Placeholder,
            ),
            (
                "name = \"edge\"\n[vars]\nDEFAULT_HOSTS = \"127.0.0.1,localhost\"\n",
                "images.acme.com",
                "edge.<your-subdomain>.workers.dev",
                TargetSource::Placeholder,
            ),
        ];
        for (i, (toml, domain, want, source)) in cases.into_iter().enumerate() {
            let path = write_file(&tmp, &format!("wrangler-{i}.toml"), toml);
            let ctx = ctx_with_wrangler_config(&path);
            assert_eq!(cname_target(&ctx, None, None, domain).unwrap(), (want.to_string(), source), "{toml}");
            let from_env = cname_target(&ctx, None, Some("env.example.com".into()), domain).unwrap();
            assert_eq!(from_env, ("env.example.com".to_string(), TargetSource::Env), "the environment wins");
            let flag = cname_target(&ctx, Some("Other.Example.com"), Some("env.example.com".into()), domain).unwrap();
            assert_eq!(flag, ("other.example.com".to_string(), TargetSource::Flag), "the flag wins");
        }
    }
}
