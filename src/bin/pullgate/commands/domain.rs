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

/// The CNAME target: flag, env, or an honest placeholder built from the Worker's name.
fn cname_target(ctx: &Ctx, flag: Option<&str>) -> Outcome<(String, bool)> {
    if let Some(target) = flag.map(str::to_string).or_else(|| env(ENV_CNAME_TARGET)) {
        return Ok((validate::hostname(&target)?, true));
    }
    let worker = ctx.backend_options().wrangler_config().ok().flatten().and_then(|c| c.name);
    Ok((format!("{}.<your-subdomain>.workers.dev", worker.as_deref().unwrap_or("pullgate")), false))
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
    let (target, target_known) = cname_target(ctx, cname_flag)?;
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
        if !target_known {
            text.push_str(&format!(
                "\nThe Worker's hostname is not known to this CLI, so the target above is a placeholder:\n\
                 pass --cname-target or set {ENV_CNAME_TARGET} to your Worker's hostname.\n"
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
    use crate::commands::test_support::{ctx, put_app, snapshot};

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
}
