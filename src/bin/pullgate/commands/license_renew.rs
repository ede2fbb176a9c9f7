//! `pullgate license renew`: the successor of a license, with the same customer, app and
//! entitlements and a new expiry; optionally the old one revoked after a grace period, written
//! with the successor in one bulk write.

use pullgate::store::{self, RevocationRecord, SCHEMA_VERSION};

use super::license::{require_license, sign_and_record};
use super::Ctx;
use crate::failure::{Failure, Outcome};
use crate::kv;
use crate::output::{relative, timestamp};
use crate::validate;

pub fn renew(ctx: &Ctx, id: &str, expires: &str, revoke_old_after: Option<&str>) -> Outcome<()> {
    let id = validate::license_id(id)?;
    let expires_at = validate::expiry(expires, ctx.now)?;
    let grace = revoke_old_after.map(validate::duration).transpose()?;
    let kv = ctx.kv()?;
    let old = require_license(kv, &id)?;
    if let Some(r) = kv::get_record::<RevocationRecord>(kv, &store::revocation_key(&id))? {
        if r.revoked_at <= ctx.now {
            return Err(Failure::failed(format!("{id} was revoked on {}", timestamp(r.revoked_at)))
                .hint("a revoked license is not renewed: issue a new one with `pullgate license issue`"));
        }
    }
    let revokes_at = grace.map(|g| ctx.now.saturating_add(g));
    let mut also = Vec::new();
    if let Some(at) = revokes_at {
        let reason = Some("renewed".to_string());
        let record = RevocationRecord { v: SCHEMA_VERSION, id: id.clone(), revoked_at: at, reason };
        also.push((store::revocation_key(&id), kv::encode(&record)?));
    }
    let issued = sign_and_record(ctx, &old.app, &old.customer, expires_at, &old.images, Some(&id), also)?;
    if !ctx.out.json {
        let old_fate = match revokes_at {
            Some(at) => format!("{id} is revoked from {} ({})", timestamp(at), relative(at, ctx.now)),
            None => format!("{id} stays valid until {}", timestamp(old.expires_at)),
        };
        ctx.out.note(format!(
            "issued {} for {} (app {}), expires {}; {old_fate}",
            issued.id,
            old.customer,
            old.app,
            timestamp(expires_at)
        ));
    }
    let mut json = issued.json(ctx.now);
    json["renews"] = serde_json::json!(id);
    json["old_revoked_from"] = serde_json::json!(revokes_at.map(timestamp));
    ctx.out.result(&json, || issued.license.clone())
}
