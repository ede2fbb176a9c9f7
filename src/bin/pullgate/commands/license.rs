//! `pullgate license issue|list|show|revoke|inspect`: licenses signed with the active key,
//! their `license:<id>` records (the text sealed), and `revoked:<id>` revocations. `renew` and
//! `pull-secret` live in their own files.

use pullgate::license::{self as lic, Claims, LicenseError};
use pullgate::store::{self, AppRecord, LicenseRecord, RevocationRecord, KEYSET_KEY, SCHEMA_VERSION};
use serde::Serialize;

use super::{active_signer, keys_for_app, open_keyset, Ctx};
use crate::cli::LicenseCommand;
use crate::failure::{Exit, Failure, Outcome};
use crate::kv;
use crate::output::{relative, table, timestamp};
use crate::secrets;
use crate::validate;

pub fn run(ctx: &Ctx, command: LicenseCommand) -> Outcome<()> {
    match command {
        LicenseCommand::Issue { app, customer, expires, images } => issue(ctx, &app, &customer, &expires, &images),
        LicenseCommand::List { app, customer, expiring } => {
            list(ctx, app.as_deref(), customer.as_deref(), expiring.as_deref())
        }
        LicenseCommand::Show { id, reveal } => show(ctx, &id, reveal),
        LicenseCommand::Renew { id, expires, revoke_old_after } => {
            super::license_renew::renew(ctx, &id, &expires, revoke_old_after.as_deref())
        }
        LicenseCommand::PullSecret(args) => super::pull_secret::run(ctx, &args),
        LicenseCommand::Revoke { id, reason, force } => revoke(ctx, &id, reason.as_deref(), force),
        LicenseCommand::Inspect { license } => inspect(ctx, &license),
    }
}

fn issue(ctx: &Ctx, app: &str, customer: &str, expires: &str, images: &[String]) -> Outcome<()> {
    let slug = validate::slug(app)?;
    let customer = validate::label(customer, "customer name", 200)?;
    let expires_at = validate::expiry(expires, ctx.now)?;
    let images = images.iter().map(|p| validate::repo_pattern(p)).collect::<Outcome<Vec<_>>>()?;
    let issued = sign_and_record(ctx, &slug, &customer, expires_at, &images, None, Vec::new())?;
    if !ctx.out.json {
        ctx.out.note(format!(
            "issued {} for {customer} (app {slug}), expires {} ({}); signed by {}",
            issued.id,
            timestamp(expires_at),
            relative(expires_at, ctx.now),
            issued.kid
        ));
    }
    // Plain mode prints the license alone, so `$(pullgate license issue …)` captures it.
    ctx.out.result(&issued.json(ctx.now), || issued.license.clone())
}

/// A license just signed and recorded.
pub(super) struct Issued {
    pub id: String,
    pub license: String,
    pub kid: String,
    pub claims: Claims,
}

impl Issued {
    pub fn json(&self, now: i64) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "license": self.license,
            "app": self.claims.app,
            "customer": self.claims.customer,
            "issued_at": timestamp(now),
            "expires_at": timestamp(self.claims.expires_at),
            "images": self.claims.images,
            "kid": self.kid,
        })
    }
}

/// Signs a new license with the active key and writes its record, the text sealed with the root
/// secret, together with `also` in one bulk write: what `issue` and `renew` share.
pub(super) fn sign_and_record(
    ctx: &Ctx,
    slug: &str,
    customer: &str,
    expires_at: i64,
    images: &[String],
    renews: Option<&str>,
    also: Vec<(String, String)>,
) -> Outcome<Issued> {
    let root = secrets::require_root()?;
    let keys = keys_for_app(ctx, &root.secret, slug)?;
    let signer = active_signer(&keys)?;
    let kv = ctx.kv()?;
    let id = format!("lic_{}", secrets::random_hex::<12>()?);
    let claims = Claims {
        id: id.clone(),
        app: slug.to_string(),
        customer: customer.to_string(),
        issued_at: ctx.now,
        expires_at,
        images: images.to_vec(),
    };
    let license = lic::issue(&claims, signer);
    let mut record = LicenseRecord::issued(&claims, &signer.kid);
    let nonce = secrets::random_bytes::<24>()?;
    record.sealed = Some(root.secret.seal(&LicenseRecord::seal_context(&id), license.as_bytes(), nonce));
    record.renews = renews.map(str::to_string);
    let mut writes = vec![(store::license_key(&id), kv::encode(&record)?)];
    writes.extend(also);
    kv.put_many(&writes)?;
    Ok(Issued { id, license, kid: signer.kid.clone(), claims })
}

/// Reads `license:<id>`; fails when it is not recorded.
pub(super) fn require_license(kv: &dyn kv::Kv, id: &str) -> Outcome<LicenseRecord> {
    kv::get_record(kv, &store::license_key(id))?
        .ok_or_else(|| Failure::failed(format!("no license {id} is recorded")).hint("see `pullgate license list`"))
}

/// The license text of a record, opened with the configured root secret.
pub(super) fn reveal(record: &LicenseRecord) -> Outcome<String> {
    let Some(sealed) = &record.sealed else {
        return Err(Failure::failed(format!("{} was issued before licenses were kept sealed", record.id))
            .hint(format!("issue its successor with `pullgate license renew {} --expires …`", record.id)));
    };
    let root = secrets::require_root()?;
    let text = root.secret.open(&LicenseRecord::seal_context(&record.id), sealed).map_err(|e| {
        Failure::failed(format!("the root secret does not open license {}: {e}", record.id))
            .hint("use the root secret the Worker has")
    })?;
    String::from_utf8(text).map_err(|_| Failure::failed(format!("license {} opened to non-text", record.id)))
}

/// What a license says, as `list`, `show` and `inspect` all print it.
#[derive(Serialize)]
struct ClaimsView {
    id: String,
    app: String,
    customer: String,
    issued_at: String,
    expires_at: String,
    images: Vec<String>,
    kid: String,
}

/// `--json` shape of a recorded license (the license token itself is never stored).
#[derive(Serialize)]
struct LicenseView {
    #[serde(flatten)]
    claims: ClaimsView,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
    revoked_at: Option<String>,
    revoke_reason: Option<String>,
    /// A scheduled revocation (a renewal's grace period) not yet in force.
    revokes_at: Option<String>,
    /// The license this one renewed.
    renews: Option<String>,
}

impl LicenseView {
    fn new(l: &LicenseRecord, revocation: Option<&RevocationRecord>, now: i64) -> Self {
        let revokes_at = revocation.filter(|r| r.revoked_at > now).map(|r| timestamp(r.revoked_at));
        let revocation = revocation.filter(|r| r.revoked_at <= now);
        let status = match revocation {
            Some(_) => "revoked",
            None if l.expires_at <= now => "expired",
            None => "active",
        };
        LicenseView {
            claims: ClaimsView {
                id: l.id.clone(),
                app: l.app.clone(),
                customer: l.customer.clone(),
                issued_at: timestamp(l.issued_at),
                expires_at: timestamp(l.expires_at),
                images: l.images.clone(),
                kid: l.kid.clone(),
            },
            status,
            revoked_at: revocation.map(|r| timestamp(r.revoked_at)),
            revoke_reason: revocation.and_then(|r| r.reason.clone()),
            revokes_at,
            renews: l.renews.clone(),
        }
    }
}

impl std::ops::Deref for LicenseView {
    type Target = ClaimsView;
    fn deref(&self) -> &ClaimsView {
        &self.claims
    }
}

/// Whether `list`'s filters keep `l`: its app, its customer (exact), and with `within` only
/// licenses in force that expire within that many seconds.
fn is_listed(
    l: &LicenseRecord,
    revocations: &[RevocationRecord],
    app: Option<&str>,
    customer: Option<&str>,
    within: Option<i64>,
    now: i64,
) -> bool {
    let revoked = || revocations.iter().any(|r| r.id == l.id && r.revoked_at <= now);
    app.is_none_or(|a| l.app == a)
        && customer.is_none_or(|c| l.customer == c.trim())
        && within.is_none_or(|w| l.expires_at > now && l.expires_at <= now.saturating_add(w) && !revoked())
}

fn list(ctx: &Ctx, app: Option<&str>, customer: Option<&str>, expiring: Option<&str>) -> Outcome<()> {
    let app = app.map(validate::slug).transpose()?;
    let within = expiring.map(validate::duration).transpose()?;
    let loaded = kv::load_prefixes(ctx.kv()?, &[store::LICENSE_PREFIX, store::REVOCATION_PREFIX])?;
    let revocations: Vec<RevocationRecord> = kv::records(&loaded, store::REVOCATION_PREFIX)?;
    let mut licenses: Vec<LicenseRecord> = kv::records(&loaded, store::LICENSE_PREFIX)?;
    licenses.retain(|l| is_listed(l, &revocations, app.as_deref(), customer, within, ctx.now));
    licenses.sort_by_key(|l| (l.app.clone(), l.issued_at));
    let views: Vec<LicenseView> =
        licenses.iter().map(|l| LicenseView::new(l, revocations.iter().find(|r| r.id == l.id), ctx.now)).collect();
    ctx.out.result(&views, || {
        if views.is_empty() {
            if app.is_some() || customer.is_some() || within.is_some() {
                return "no licenses match".into();
            }
            return "no licenses: issue one with `pullgate license issue --app <slug> --customer <name> --expires 90d`"
                .into();
        }
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.id.clone(),
                    v.app.clone(),
                    v.customer.clone(),
                    v.expires_at[..10].to_string(),
                    v.status.to_string(),
                    if v.images.is_empty() { "all".into() } else { v.images.join(",") },
                    v.kid.clone(),
                ]
            })
            .collect();
        table(&["id", "app", "customer", "expires", "status", "images", "kid"], &rows)
    })
}

fn show(ctx: &Ctx, id: &str, reveal_text: bool) -> Outcome<()> {
    let id = validate::license_id(id)?;
    let kv = ctx.kv()?;
    let found = kv.get_many(&[store::license_key(&id), store::revocation_key(&id)])?;
    let record: LicenseRecord = match &found[0] {
        Some(v) => kv::decode(&store::license_key(&id), v)?,
        None => return Err(Failure::failed(format!("no license {id} is recorded")).hint("see `pullgate license list`")),
    };
    let revocation: Option<RevocationRecord> =
        found[1].as_deref().map(|v| kv::decode(&store::revocation_key(&id), v)).transpose()?;
    if reveal_text {
        let license = reveal(&record)?;
        // Plain mode prints the license alone, as `license issue` does.
        return ctx.out.result(&serde_json::json!({ "id": id, "license": license }), || license.clone());
    }
    let view = LicenseView::new(&record, revocation.as_ref(), ctx.now);
    ctx.out.result(&view, || {
        let mut status = view.status.to_string();
        if let Some(r) = revocation.as_ref().filter(|r| r.revoked_at <= ctx.now) {
            status.push_str(&format!(
                " on {}{}",
                timestamp(r.revoked_at),
                r.reason.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            ));
        }
        if let Some(at) = &view.revokes_at {
            status.push_str(&format!(" (revoked from {at})"));
        }
        let mut extra = vec![("signed by", view.kid.clone()), ("status", status)];
        if let Some(old) = &view.renews {
            extra.push(("renews", old.clone()));
        }
        claims_text(&view, record.expires_at, ctx.now, extra)
    })
}

/// A license's claims as aligned `label: value` lines, followed by `extra`.
fn claims_text(c: &ClaimsView, expires_unix: i64, now: i64, extra: Vec<(&str, String)>) -> String {
    let images = if c.images.is_empty() { "all of the app's images".into() } else { c.images.join(", ") };
    let mut lines = vec![
        ("license", c.id.clone()),
        ("app", c.app.clone()),
        ("customer", c.customer.clone()),
        ("issued", c.issued_at.clone()),
        ("expires", format!("{} ({})", c.expires_at, relative(expires_unix, now))),
        ("images", images),
    ];
    lines.extend(extra);
    let width = lines.iter().map(|(label, _)| label.len() + 1).max().unwrap_or(0);
    lines.iter().map(|(label, value)| format!("{:<width$} {value}", format!("{label}:"))).collect::<Vec<_>>().join("\n")
}

fn revoke(ctx: &Ctx, id: &str, reason: Option<&str>, force: bool) -> Outcome<()> {
    let id = validate::license_id(id)?;
    let reason = reason.map(|r| validate::label(r, "reason", 500)).transpose()?;
    let kv = ctx.kv()?;
    let found = kv.get_many(&[store::license_key(&id), store::revocation_key(&id)])?;
    if let Some(existing) = &found[1] {
        let existing: RevocationRecord = kv::decode(&store::revocation_key(&id), existing)?;
        let json = serde_json::json!({ "id": id, "revoked_at": timestamp(existing.revoked_at), "reason": existing.reason, "already_revoked": true });
        return ctx.out.result(&json, || {
            format!("{id} was already revoked on {}; nothing changed.", timestamp(existing.revoked_at))
        });
    }
    let customer = match &found[0] {
        Some(v) => Some(kv::decode::<LicenseRecord>(&store::license_key(&id), v)?.customer),
        None if force => None,
        None => {
            return Err(Failure::failed(format!("no license {id} is recorded"))
                .hint("check the id (`pullgate license list`), or pass --force to revoke an unrecorded id"))
        }
    };
    let record = RevocationRecord { v: SCHEMA_VERSION, id: id.clone(), revoked_at: ctx.now, reason: reason.clone() };
    kv.put_many(&[(store::revocation_key(&id), kv::encode(&record)?)])?;
    let json =
        serde_json::json!({ "id": id, "revoked_at": timestamp(ctx.now), "reason": reason, "already_revoked": false });
    ctx.out.result(&json, || {
        format!(
            "{id}{} revoked. Edges refuse it for new tokens within KV propagation (~60 s) + CONFIG_CACHE_SECONDS; \
             tokens already issued live until they expire (TOKEN_TTL_SECONDS).",
            customer.map(|c| format!(" ({c})")).unwrap_or_default()
        )
    })
}

/// Reads a license argument: the license itself, `@FILE`, or `-` for stdin.
pub fn license_argument(arg: &str) -> Outcome<String> {
    let text = if arg == "-" {
        secrets::read_secret(true, None, "license", "-")?
    } else if let Some(path) = arg.strip_prefix('@') {
        secrets::read_text_file(std::path::Path::new(path), "license")?
    } else {
        arg.to_string()
    };
    Ok(text.trim().to_string())
}

/// `--json` shape of `license inspect`: the claims (unverified unless `signature` is `valid`)
/// and what could be checked.
#[derive(Serialize)]
struct InspectView {
    #[serde(flatten)]
    claims: ClaimsView,
    /// `valid`, `expired`, `revoked`, `bad_signature`, `unknown_key`, `invalid` or `unverified`.
    status: &'static str,
    /// `valid`, `invalid`, `unknown_key` or `not_checked`.
    signature: &'static str,
    /// `revoked`, `not_revoked` or `not_checked`.
    revocation: &'static str,
    problems: Vec<String>,
    #[serde(skip)]
    expires_unix: i64,
}

impl std::ops::Deref for InspectView {
    type Target = ClaimsView;
    fn deref(&self) -> &ClaimsView {
        &self.claims
    }
}

/// Verifies a license offline: signature (keyset opened with the root secret), expiry,
/// revocation and app, each as far as the configuration allows; exits 0 only when valid.
fn inspect(ctx: &Ctx, arg: &str) -> Outcome<()> {
    let license = license_argument(arg)?;
    let (kid, claims) = lic::peek(&license)
        .ok_or_else(|| Failure::usage("this is not a pullgate license (expected pgl1.<kid>.<claims>.<mac>)"))?;
    let mut problems = Vec::new();
    let mut signature = "not_checked";
    let mut revocation = "not_checked";
    let root = secrets::configured_root()?;
    if root.is_none() {
        problems.push(format!(
            "signature not checked: no root secret ({} or {})",
            pullgate::keys::ROOT_SECRET_NAME,
            crate::settings::ENV_ROOT_SECRET_FILE
        ));
    }
    if !ctx.has_backend() {
        problems.push("signature and revocation not checked: no KV backend configured".to_string());
    } else {
        let looked_up = ctx.kv().and_then(|kv| {
            kv.get_many(&[KEYSET_KEY.to_string(), store::revocation_key(&claims.id), store::app_key(&claims.app)])
        });
        match looked_up {
            Err(e) => problems.push(format!("KV not reachable, nothing checked there: {}", e.message)),
            Ok(found) => {
                revocation = if found[1].is_some() { "revoked" } else { "not_revoked" };
                if let Some(v) = &found[1] {
                    let r: RevocationRecord = kv::decode(&store::revocation_key(&claims.id), v)?;
                    problems.push(format!(
                        "revoked on {}{}",
                        timestamp(r.revoked_at),
                        r.reason.map(|s| format!(": {s}")).unwrap_or_default()
                    ));
                }
                if found[2]
                    .as_deref()
                    .map(|v| kv::decode::<AppRecord>(&store::app_key(&claims.app), v))
                    .transpose()?
                    .is_none()
                {
                    problems.push(format!("app {:?} does not exist, so the edge refuses this license", claims.app));
                }
                match (&root, &found[0]) {
                    (Some(root), Some(v)) => {
                        let keys = open_keyset(&root.secret, &kv::decode(KEYSET_KEY, v)?)?;
                        signature = match lic::verify_signature(&license, &keys) {
                            Ok(_) => "valid",
                            Err(LicenseError::UnknownKey) => {
                                problems.push(format!(
                                    "signed by key {kid}, which this deployment does not know (retired?)"
                                ));
                                "unknown_key"
                            }
                            Err(_) => {
                                problems.push("the signature does not verify: altered or forged".to_string());
                                "invalid"
                            }
                        };
                    }
                    (Some(_), None) => {
                        problems.push("signature not checked: there are no signing keys in KV".to_string())
                    }
                    (None, _) => {}
                }
            }
        }
    }
    let expired = claims.expires_at <= ctx.now;
    if expired {
        problems.push(format!("expired on {}", timestamp(claims.expires_at)));
    }
    let status = match (signature, revocation) {
        ("invalid", _) => "bad_signature",
        ("unknown_key", _) => "unknown_key",
        (_, "revoked") => "revoked",
        _ if expired => "expired",
        ("valid", _) if problems.is_empty() => "valid",
        ("valid", _) => "invalid",
        _ => "unverified",
    };
    let view = InspectView {
        claims: ClaimsView {
            id: claims.id,
            app: claims.app,
            customer: claims.customer,
            issued_at: timestamp(claims.issued_at),
            expires_at: timestamp(claims.expires_at),
            images: claims.images,
            kid,
        },
        status,
        signature,
        revocation,
        problems,
        expires_unix: claims.expires_at,
    };
    ctx.out.result(&view, || {
        let mut text = claims_text(
            &view,
            view.expires_unix,
            ctx.now,
            vec![
                ("signed by", format!("{} (signature {})", view.kid, view.signature.replace('_', " "))),
                ("revocation", view.revocation.replace('_', " ")),
                ("status", view.status.replace('_', " ")),
            ],
        );
        for p in &view.problems {
            text.push_str(&format!("\n  - {p}"));
        }
        text
    })?;
    if view.status == "valid" {
        Ok(())
    } else {
        // The report above is the explanation; the exit code says "not usable".
        Err(Failure::after_report(
            Exit::Failure,
            format!("license {} is not valid: {}", view.id, view.status.replace('_', " ")),
        ))
    }
}

#[cfg(test)]
#[path = "license_tests.rs"]
mod tests;
