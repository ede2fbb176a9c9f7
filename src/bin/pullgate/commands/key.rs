//! `pullgate key init|rotate|list|retire|new-root-secret|reseal`: the root secret and the `keys`
//! record of signing keys.
//!
//! ```text
//! init:    (root secret) + k1 active
//! rotate:  k1 active, k2 pending      edges learn k2 (verify only) during KV propagation
//! rotate:  k1 retiring, k2 active     k2 signs; k1 still verifies what it signed
//! retire:  k2 active                  once nothing k1 signed is still valid
//! ```
//!
//! A root-secret rotation keeps every signing key (so every license stays valid) and every
//! upstream credential; only their sealing changes:
//!
//! ```text
//! new-root-secret:  new secret in a file
//! (vendor)          Worker: ROOT_SECRET = new, ROOT_SECRET_PREVIOUS = old   opens both sealings
//! reseal:           KV resealed with new (one bulk write)
//! (vendor)          after propagation, delete ROOT_SECRET_PREVIOUS
//! ```

use std::path::Path;

use pullgate::keys::{
    KeyRecord, KeyState, KeysetRecord, RootSecret, Sealed, PREVIOUS_ROOT_SECRET_NAME, ROOT_SECRET_NAME,
};
use pullgate::store::{self, AppRecord, CredentialRecord, LicenseRecord, RevocationRecord, KEYSET_KEY};
use serde::Serialize;

use super::{open_keyset, Ctx};
use crate::cli::KeyCommand;
use crate::failure::{Failure, Outcome};
use crate::kv::{self, Kv};
use crate::output::{relative, table, timestamp};
use crate::secrets;
use crate::settings::{self, ENV_ROOT_SECRET_FILE};
use crate::validate;

pub fn run(ctx: &Ctx, command: KeyCommand) -> Outcome<()> {
    match command {
        KeyCommand::Init { root_secret_out } => init(ctx, root_secret_out.as_deref()),
        KeyCommand::Rotate { force } => rotate(ctx, force),
        KeyCommand::List => list(ctx),
        KeyCommand::Retire { kid, force } => retire(ctx, &kid, force),
        KeyCommand::NewRootSecret { out } => new_root_secret(ctx, &out),
        KeyCommand::Reseal { new_root_secret_file } => reseal(ctx, &new_root_secret_file),
    }
}

/// `--json` shape of a signing key.
#[derive(Serialize)]
struct KeyView {
    kid: String,
    state: &'static str,
    created_at: String,
    licenses_signed: usize,
    licenses_unexpired: usize,
}

/// The keyset record; an absent record is an empty keyset.
fn load_keyset(kv: &dyn Kv) -> Outcome<KeysetRecord> {
    Ok(kv::get_record(kv, KEYSET_KEY)?.unwrap_or_default())
}

/// A new signing key sealed with `root`: `k` + 8 hex, 32 random bytes.
fn new_key(root: &RootSecret, state: KeyState, now: i64, existing: &KeysetRecord) -> Outcome<KeyRecord> {
    let mut kid = format!("k{}", secrets::random_hex::<4>()?);
    while existing.keys.iter().any(|k| k.kid == kid) {
        kid = format!("k{}", secrets::random_hex::<4>()?);
    }
    let secret = secrets::random_bytes::<32>()?;
    let sealed = root.seal(&KeysetRecord::seal_context(&kid), &secret, secrets::random_bytes::<24>()?);
    Ok(KeyRecord { kid, state, created_at: now, secret: sealed })
}

fn init(ctx: &Ctx, root_secret_out: Option<&Path>) -> Outcome<()> {
    let configured = secrets::configured_root()?;
    match (&configured, root_secret_out) {
        (Some(c), Some(_)) => {
            return Err(Failure::usage(format!(
                "a root secret is already configured ({}); --root-secret-out only applies when init creates one",
                c.source
            )))
        }
        (None, None) if ctx.out.json => {
            return Err(Failure::usage(
                "with --json, pass --root-secret-out FILE: a new root secret never goes into JSON output",
            ))
        }
        _ => {}
    }
    if let Some(path) = root_secret_out {
        if path.exists() {
            return Err(Failure::usage(format!(
                "{} already exists; choose a new file (it is never overwritten)",
                path.display()
            )));
        }
    }
    let kv = ctx.kv()?;
    let keyset = load_keyset(kv)?;
    if !keyset.keys.is_empty() {
        return Err(Failure::failed(format!("signing keys already exist ({})", kid_list(&keyset)))
            .hint("see `pullgate key list`; use `pullgate key rotate` for a new key"));
    }
    let (root, created) = match &configured {
        Some(c) => (c.secret.clone(), false),
        None => (RootSecret::from_bytes(secrets::random_bytes::<32>()?), true),
    };
    let key = new_key(&root, KeyState::Active, ctx.now, &keyset)?;
    // The file first: if the KV write then fails, the secret is not lost and init can rerun with it.
    if let (true, Some(path)) = (created, root_secret_out) {
        secrets::write_private_file(path, &root.to_hex())?;
    }
    let record = KeysetRecord { keys: vec![key.clone()] };
    kv.put_many(&[(KEYSET_KEY.to_string(), kv::encode(&record)?)])?;

    let json = serde_json::json!({
        "kid": key.kid,
        "state": "active",
        "root_secret_created": created,
        "root_secret_file": root_secret_out.map(|p| p.display().to_string()),
    });
    ctx.out.result(&json, || {
        let mut text = format!("signing key {} created (active).\n", key.kid);
        match (created, root_secret_out) {
            (false, _) => text.push_str(&format!(
                "It is sealed with the configured root secret ({}); the Worker must have the same one.",
                configured.as_ref().map(|c| c.source.as_str()).unwrap_or_default()
            )),
            (true, Some(path)) => text.push_str(&format!(
                "\nA new root secret was written to {p} (mode 600). Give it to the Worker:\n  npx wrangler secret put {ROOT_SECRET_NAME} < {p}\n\
                 and to this CLI:\n  export {ENV_ROOT_SECRET_FILE}={p}\n\
                 For local development, put {ROOT_SECRET_NAME}=<its content> in the env file of `wrangler dev` (.dev.vars).",
                p = path.display()
            )),
            (true, None) => text.push_str(&format!(
                "\nA new root secret was created. It is shown only this once; store it now:\n\n  {hex}\n\n\
                 Give it to the Worker (paste it when asked):\n  npx wrangler secret put {ROOT_SECRET_NAME}\n\
                 and to this CLI:\n  export {ROOT_SECRET_NAME}=<the value above>\n\
                 For local development, put {ROOT_SECRET_NAME}=<the value> in the env file of `wrangler dev` (.dev.vars).",
                hex = root.to_hex()
            )),
        }
        text
    })
}

fn kid_list(keyset: &KeysetRecord) -> String {
    keyset.keys.iter().map(|k| format!("{} {}", k.kid, k.state.as_str())).collect::<Vec<_>>().join(", ")
}

/// Seconds a new key must be known before it may sign: KV propagation plus the edge's cache.
fn propagation_wait(ctx: &Ctx) -> i64 {
    let cache = ctx
        .backend_options()
        .wrangler_config()
        .ok()
        .flatten()
        .and_then(|c| c.config_cache_seconds)
        .unwrap_or(settings::DEFAULT_CONFIG_CACHE_SECONDS);
    settings::KV_PROPAGATION_SECONDS + cache
}

fn rotate(ctx: &Ctx, force: bool) -> Outcome<()> {
    let root = secrets::require_root()?;
    let kv = ctx.kv()?;
    let mut keyset = load_keyset(kv)?;
    if keyset.keys.is_empty() {
        return Err(Failure::failed("there are no signing keys yet").hint("run `pullgate key init` first"));
    }
    open_keyset(&root.secret, &keyset)?;
    let wait = propagation_wait(ctx);
    let pending = keyset.keys.iter().position(|k| k.state == KeyState::Pending);
    let json = if let Some(p) = pending {
        let age = ctx.now - keyset.keys[p].created_at;
        if age < wait && !force {
            return Err(Failure::failed(format!(
                "pending key {} was added {age} s ago; edges may not know it yet (KV propagation {} s + CONFIG_CACHE_SECONDS)",
                keyset.keys[p].kid,
                settings::KV_PROPAGATION_SECONDS
            ))
            .hint(format!("run `pullgate key rotate` again in {} s, or pass --force", wait - age)));
        }
        let mut retiring = Vec::new();
        for key in &mut keyset.keys {
            if key.state == KeyState::Active {
                key.state = KeyState::Retiring;
                retiring.push(key.kid.clone());
            }
        }
        keyset.keys[p].state = KeyState::Active;
        kv.put_many(&[(KEYSET_KEY.to_string(), kv::encode(&keyset)?)])?;
        serde_json::json!({ "action": "promoted", "active": keyset.keys[p].kid, "retiring": retiring })
    } else {
        let key = new_key(&root.secret, KeyState::Pending, ctx.now, &keyset)?;
        keyset.keys.push(key.clone());
        kv.put_many(&[(KEYSET_KEY.to_string(), kv::encode(&keyset)?)])?;
        serde_json::json!({ "action": "added_pending", "pending": key.kid, "promote_after_seconds": wait })
    };
    ctx.out.result(&json, || match json["action"].as_str() {
        Some("promoted") => format!(
            "key {} is now active and signs new licenses and tokens; {} retiring (verify only).\n\
             Retire the old key with `pullgate key retire <kid>` once what it signed has expired.",
            json["active"].as_str().unwrap_or_default(),
            json["retiring"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ),
        _ => format!(
            "key {} added as pending: edges verify with it but do not sign with it yet.\n\
             Run `pullgate key rotate` again in {wait} s (KV propagation + CONFIG_CACHE_SECONDS) to make it active.",
            json["pending"].as_str().unwrap_or_default()
        ),
    })
}

/// Recorded licenses that still work: unexpired and not revoked.
fn live_licenses(kv: &dyn Kv, now: i64) -> Outcome<Vec<LicenseRecord>> {
    let loaded = kv::load_prefixes(kv, &[store::LICENSE_PREFIX, store::REVOCATION_PREFIX])?;
    let revoked: Vec<RevocationRecord> = kv::records(&loaded, store::REVOCATION_PREFIX)?;
    let licenses: Vec<LicenseRecord> = kv::records(&loaded, store::LICENSE_PREFIX)?;
    Ok(licenses.into_iter().filter(|l| l.expires_at > now && !revoked.iter().any(|r| r.id == l.id)).collect())
}

fn list(ctx: &Ctx) -> Outcome<()> {
    let kv = ctx.kv()?;
    let keyset = load_keyset(kv)?;
    let loaded = kv::load_prefixes(kv, &[store::LICENSE_PREFIX])?;
    let licenses: Vec<LicenseRecord> = kv::records(&loaded, store::LICENSE_PREFIX)?;
    let views: Vec<KeyView> = keyset
        .keys
        .iter()
        .map(|k| KeyView {
            kid: k.kid.clone(),
            state: k.state.as_str(),
            created_at: timestamp(k.created_at),
            licenses_signed: licenses.iter().filter(|l| l.kid == k.kid).count(),
            licenses_unexpired: licenses.iter().filter(|l| l.kid == k.kid && l.expires_at > ctx.now).count(),
        })
        .collect();
    ctx.out.result(&views, || {
        if views.is_empty() {
            return "no signing keys: run `pullgate key init`".to_string();
        }
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.kid.clone(),
                    v.state.to_string(),
                    v.created_at.clone(),
                    format!("{} ({} unexpired)", v.licenses_signed, v.licenses_unexpired),
                ]
            })
            .collect();
        table(&["kid", "state", "created", "licenses signed"], &rows)
    })
}

fn retire(ctx: &Ctx, kid: &str, force: bool) -> Outcome<()> {
    let kid = validate::key_id(kid)?;
    let kv = ctx.kv()?;
    let mut keyset = load_keyset(kv)?;
    let index =
        keyset.keys.iter().position(|k| k.kid == kid).ok_or_else(|| {
            Failure::failed(format!("no signing key {kid}")).hint(format!("keys: {}", kid_list(&keyset)))
        })?;
    if keyset.keys[index].state == KeyState::Active {
        return Err(Failure::failed(format!("{kid} is the active key and signs everything; it cannot be retired"))
            .hint("run `pullgate key rotate` (twice) first, then retire it once it is retiring"));
    }
    let live: Vec<LicenseRecord> = live_licenses(kv, ctx.now)?.into_iter().filter(|l| l.kid == kid).collect();
    if !live.is_empty() && !force {
        let shown: Vec<String> = live
            .iter()
            .take(10)
            .map(|l| {
                format!(
                    "{} ({}, app {}, expires {})",
                    l.id,
                    l.customer,
                    l.app,
                    pullgate::time::format_date(l.expires_at)
                )
            })
            .collect();
        let more = if live.len() > 10 { format!(" and {} more", live.len() - 10) } else { String::new() };
        let latest = live.iter().map(|l| l.expires_at).max().unwrap_or(ctx.now);
        return Err(Failure::failed(format!(
            "{} unexpired, unrevoked license(s) were signed by {kid} and would stop working: {}{more}",
            live.len(),
            shown.join("; ")
        ))
        .hint(format!(
            "re-issue them with the active key, wait until {} ({}), or pass --force",
            timestamp(latest),
            relative(latest, ctx.now)
        )));
    }
    let removed = keyset.keys.remove(index);
    kv.put_many(&[(KEYSET_KEY.to_string(), kv::encode(&keyset)?)])?;
    let json = serde_json::json!({ "retired": removed.kid, "state_was": removed.state.as_str(), "licenses_invalidated": live.len() });
    ctx.out.result(&json, || {
        let mut text =
            format!("key {} ({}) removed; nothing it signed verifies any more.", removed.kid, removed.state.as_str());
        if !live.is_empty() {
            text.push_str(&format!("\n{} license(s) signed by it stopped working (--force).", live.len()));
        }
        text
    })
}

fn new_root_secret(ctx: &Ctx, out: &Path) -> Outcome<()> {
    let current = secrets::require_root()?;
    secrets::write_private_file(out, &RootSecret::from_bytes(secrets::random_bytes::<32>()?).to_hex())?;
    let json = serde_json::json!({ "root_secret_file": out.display().to_string() });
    ctx.out.result(&json, || {
        format!(
            "A new root secret was written to {new} (mode 600). The current one is {current}.\n\
             1. Give the Worker both, the new one as current (no request fails meanwhile):\n\
             \x20    npx wrangler secret put {PREVIOUS_ROOT_SECRET_NAME}   # paste the current root secret\n\
             \x20    npx wrangler secret put {ROOT_SECRET_NAME} < {new}\n\
             2. Reseal what KV holds:  pullgate key reseal --new-root-secret-file {new}\n\
             3. After KV propagation and CONFIG_CACHE_SECONDS (a few minutes):\n\
             \x20    npx wrangler secret delete {PREVIOUS_ROOT_SECRET_NAME}\n\
             \x20    export {ENV_ROOT_SECRET_FILE}={new}",
            new = out.display(),
            current = current.source
        )
    })
}

/// Counts of a reseal, for the report.
#[derive(Default, Serialize)]
struct ResealReport {
    signing_keys: usize,
    credentials: usize,
    /// Sealed license texts (what `license show --reveal` opens).
    licenses: usize,
    already_resealed: usize,
}

/// The value sealed again with `new` under the same context, or `None` when it already opens
/// with `new` (a reseal that ran before). Anything else is an error, before anything is written.
fn reseal_value(
    current: &RootSecret,
    new: &RootSecret,
    context: &str,
    sealed: &Sealed,
    what: &str,
) -> Outcome<Option<Sealed>> {
    match current.open(context, sealed) {
        Ok(plain) => Ok(Some(new.seal(context, &plain, secrets::random_bytes::<24>()?))),
        Err(_) if new.open(context, sealed).is_ok() => Ok(None),
        Err(e) => Err(Failure::failed(format!("{what} opens with neither the configured nor the new root secret: {e}"))
            .hint(format!("configure the root secret it was sealed with ({ROOT_SECRET_NAME} or {ENV_ROOT_SECRET_FILE}); nothing was written"))),
    }
}

fn reseal(ctx: &Ctx, new_file: &Path) -> Outcome<()> {
    let current = secrets::require_root()?;
    let new = secrets::read_root_secret_file(new_file)?;
    if new.to_hex() == current.secret.to_hex() {
        return Err(Failure::usage(format!(
            "{} holds the configured root secret ({}); pass the new one",
            new_file.display(),
            current.source
        )));
    }
    let kv = ctx.kv()?;
    let mut report = ResealReport::default();
    let mut writes = Vec::new();

    let mut keyset = load_keyset(kv)?;
    let mut keyset_changed = false;
    for key in &mut keyset.keys {
        let context = KeysetRecord::seal_context(&key.kid);
        match reseal_value(&current.secret, &new, &context, &key.secret, &format!("signing key {}", key.kid))? {
            Some(sealed) => {
                key.secret = sealed;
                keyset_changed = true;
                report.signing_keys += 1;
            }
            None => report.already_resealed += 1,
        }
    }
    if keyset_changed {
        writes.push((KEYSET_KEY.to_string(), kv::encode(&keyset)?));
    }

    let loaded = kv::load_prefixes(kv, &[store::APP_PREFIX])?;
    let apps: Vec<AppRecord> = kv::records(&loaded, store::APP_PREFIX)?;
    for mut app in apps {
        let mut changed = false;
        for upstream in &mut app.upstreams {
            let Some(sealed) = &upstream.credential.sealed else { continue };
            let context = CredentialRecord::seal_context(&app.slug, &upstream.endpoint);
            let what = format!("the credential of app {} upstream {}", app.slug, upstream.display_name());
            match reseal_value(&current.secret, &new, &context, sealed, &what)? {
                Some(sealed) => {
                    upstream.credential.sealed = Some(sealed);
                    changed = true;
                    report.credentials += 1;
                }
                None => report.already_resealed += 1,
            }
        }
        if changed {
            writes.push((store::app_key(&app.slug), kv::encode(&app)?));
        }
    }

    let loaded = kv::load_prefixes(kv, &[store::LICENSE_PREFIX])?;
    let licenses: Vec<LicenseRecord> = kv::records(&loaded, store::LICENSE_PREFIX)?;
    for mut license in licenses {
        let Some(sealed) = &license.sealed else { continue };
        let context = LicenseRecord::seal_context(&license.id);
        match reseal_value(&current.secret, &new, &context, sealed, &format!("the text of license {}", license.id))? {
            Some(sealed) => {
                license.sealed = Some(sealed);
                writes.push((store::license_key(&license.id), kv::encode(&license)?));
                report.licenses += 1;
            }
            None => report.already_resealed += 1,
        }
    }
    // One bulk write: the edge never sees half a reseal (it opens both sealings anyway).
    if !writes.is_empty() {
        kv.put_many(&writes)?;
    }
    ctx.out.result(&report, || {
        let mut text = format!(
            "resealed {} signing key(s), {} upstream credential(s) and {} license text(s) with {}",
            report.signing_keys,
            report.credentials,
            report.licenses,
            new_file.display()
        );
        if report.already_resealed > 0 {
            text.push_str(&format!(" ({} already were)", report.already_resealed));
        }
        text.push_str(&format!(
            ".\nOnce KV has propagated (a minute plus CONFIG_CACHE_SECONDS), finish with:\n\
             \x20 npx wrangler secret delete {PREVIOUS_ROOT_SECRET_NAME}\n\
             \x20 export {ENV_ROOT_SECRET_FILE}={}",
            new_file.display()
        ));
        text
    })
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
