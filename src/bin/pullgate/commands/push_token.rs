//! `pullgate push-token issue|list|revoke` and `pullgate hosted enable`: the vendor's push
//! credentials for the hosted registry (`pushtoken:<id>` records, `revoked:<id>` revocations)
//! and the hosted upstream itself.

use pullgate::push_token::{self, Claims};
use pullgate::store::{
    self, CredentialRecord, PushTokenRecord, RevocationRecord, UpstreamRecord, HOSTED_ENDPOINT, SCHEMA_VERSION,
};

use super::{active_signer, keys_for_app, require_app, Ctx};
use crate::cli::{HostedCommand, PushTokenCommand};
use crate::failure::{Failure, Outcome};
use crate::kv;
use crate::output::{table, timestamp};
use crate::secrets;
use crate::validate;

pub fn run(ctx: &Ctx, command: PushTokenCommand) -> Outcome<()> {
    match command {
        PushTokenCommand::Issue { app, repos, expires, delete } => issue(ctx, &app, &repos, &expires, delete),
        PushTokenCommand::List { app } => list(ctx, app.as_deref()),
        PushTokenCommand::Revoke { id } => revoke(ctx, &id),
    }
}

fn issue(ctx: &Ctx, app: &str, repos: &[String], expires: &str, delete: bool) -> Outcome<()> {
    let slug = validate::slug(app)?;
    let expires_at = validate::expiry(expires, ctx.now)?;
    let repos = repos.iter().map(|p| validate::repo_pattern(p)).collect::<Outcome<Vec<_>>>()?;
    let root = secrets::require_root()?;
    let keys = keys_for_app(ctx, &root.secret, &slug)?;
    let signer = active_signer(&keys)?;
    let kv = ctx.kv()?;
    let id = format!("{}{}", pullgate::service::hosted::token::ID_PREFIX, secrets::random_hex::<12>()?);
    let claims = Claims {
        id: id.clone(),
        app: slug.clone(),
        repos: repos.clone(),
        delete,
        admin: false,
        iat: ctx.now,
        exp: expires_at,
    };
    let token = push_token::issue(&claims, signer);
    let record = PushTokenRecord {
        v: SCHEMA_VERSION,
        id: id.clone(),
        app: slug.clone(),
        repos: repos.clone(),
        delete,
        issued_at: ctx.now,
        expires_at,
        kid: signer.kid.clone(),
    };
    kv.put_many(&[(store::push_token_key(&id), kv::encode(&record)?)])?;
    if !ctx.out.json {
        ctx.out.note(format!("issued push token {id} for app {slug}, expires {}", timestamp(expires_at)));
    }
    let json = serde_json::json!({
        "id": id, "token": token, "app": slug, "repos": repos, "delete": delete,
        "issued_at": timestamp(ctx.now), "expires_at": timestamp(expires_at), "kid": signer.kid,
    });
    // Plain mode prints the token alone, for `docker login --password-stdin`.
    ctx.out.result(&json, || token.clone())
}

fn list(ctx: &Ctx, app: Option<&str>) -> Outcome<()> {
    let app = app.map(validate::slug).transpose()?;
    let loaded = kv::load_prefixes(ctx.kv()?, &[store::PUSH_TOKEN_PREFIX, store::REVOCATION_PREFIX])?;
    let revocations: Vec<RevocationRecord> = kv::records(&loaded, store::REVOCATION_PREFIX)?;
    let mut tokens: Vec<PushTokenRecord> = kv::records(&loaded, store::PUSH_TOKEN_PREFIX)?;
    tokens.retain(|t| app.as_deref().is_none_or(|a| t.app == a));
    tokens.sort_by_key(|t| (t.app.clone(), t.issued_at));
    let status = |t: &PushTokenRecord| match revocations.iter().any(|r| r.id == t.id) {
        true => "revoked",
        false if t.expires_at <= ctx.now => "expired",
        false => "active",
    };
    let views: Vec<serde_json::Value> = tokens
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id, "app": t.app, "repos": t.repos, "delete": t.delete,
                "issued_at": timestamp(t.issued_at), "expires_at": timestamp(t.expires_at),
                "status": status(t), "kid": t.kid,
            })
        })
        .collect();
    ctx.out.result(&views, || {
        if tokens.is_empty() {
            return "no push tokens: issue one with `pullgate push-token issue --app <slug> --expires 90d`".into();
        }
        let rows: Vec<Vec<String>> = tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.app.clone(),
                    timestamp(t.expires_at)[..10].to_string(),
                    status(t).to_string(),
                    if t.repos.is_empty() { "all".into() } else { t.repos.join(",") },
                    if t.delete { "yes".into() } else { "no".into() },
                ]
            })
            .collect();
        table(&["id", "app", "expires", "status", "repos", "delete"], &rows)
    })
}

fn revoke(ctx: &Ctx, id: &str) -> Outcome<()> {
    let id = id.trim().to_string();
    let kv = ctx.kv()?;
    if kv.get_many(&[store::push_token_key(&id)])?[0].is_none() {
        return Err(Failure::failed(format!("no push token {id} is recorded")).hint("see `pullgate push-token list`"));
    }
    let record = RevocationRecord { v: SCHEMA_VERSION, id: id.clone(), revoked_at: ctx.now, reason: None };
    kv.put_many(&[(store::revocation_key(&id), kv::encode(&record)?)])?;
    let json = serde_json::json!({ "id": id, "revoked_at": timestamp(ctx.now) });
    ctx.out.result(&json, || {
        format!("{id} revoked. Edges refuse it within KV propagation (~60 s) + CONFIG_CACHE_SECONDS.")
    })
}

pub fn run_hosted(ctx: &Ctx, command: HostedCommand) -> Outcome<()> {
    let HostedCommand::Enable { app, alias, quota } = command;
    let kv = ctx.kv()?;
    let mut record = require_app(kv, &app)?;
    let alias = validate::slug(&alias)?;
    if record.upstreams.iter().any(|u| u.alias.as_deref() == Some(alias.as_str()) && !u.hosted) {
        return Err(Failure::usage(format!("app {} already has an upstream called {alias}", record.slug)));
    }
    record.upstreams.retain(|u| !u.hosted);
    record.upstreams.push(UpstreamRecord {
        endpoint: HOSTED_ENDPOINT.into(),
        alias: Some(alias.clone()),
        repos: vec![],
        credential: CredentialRecord::default(),
        insecure: false,
        auth_endpoint: None,
        realm_hosts: vec![],
        hosted: true,
    });
    record.hosted_quota = quota;
    kv.put_many(&[(store::app_key(&record.slug), kv::encode(&record)?)])?;
    let json = serde_json::json!({ "app": record.slug, "alias": alias, "quota": quota });
    ctx.out.result(&json, || {
        format!(
            "app {} now has a hosted registry under {alias}: push to proxy/{}/{alias}/<repo> with a push token",
            record.slug, record.slug
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::*;

    #[test]
    fn hosted_enable_adds_one_hosted_upstream() {
        let ctx = ctx();
        put_app(&ctx, "demo");
        for _ in 0..2 {
            run_hosted(&ctx, HostedCommand::Enable { app: "demo".into(), alias: "hosted".into(), quota: Some(5) })
                .unwrap();
        }
        let app: store::AppRecord = serde_json::from_str(&snapshot(&ctx)["app:demo"]).unwrap();
        assert_eq!(app.upstreams.iter().filter(|u| u.hosted).count(), 1);
        assert_eq!(app.hosted_quota, Some(5));
        assert!(run(&ctx, PushTokenCommand::Revoke { id: "pt_nope".into() }).is_err());
    }
}
