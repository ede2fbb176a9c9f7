//! Client authentication: the host's binding, licenses (signature, expiry, revocation, the
//! failed-sign-in limit) and bearer tokens, all decided before any upstream request is made.
//!
//! A valid license is never refused because of other traffic: the failed-sign-in limit is
//! consulted only once a credential has already failed.

use std::rc::Rc;

use crate::access::{self, Credentials, HostBinding, Target};
use crate::error::RegistryError;
use crate::license::{self, LicenseError};
use crate::reference::Name;
use crate::scope::Scope;
use crate::store::{AppRecord, UpstreamRecord};
use crate::throttle::{self, Limit};
use crate::token::{self, BearerError};

use super::hosted::HostedError;
use super::{Ctx, Runtime};

/// Why a client was refused, before any upstream is involved. `error.rs` maps each to its
/// status, OCI code, message and `detail.reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials on a request that needs them; `login_host` names the host to log in to.
    CredentialsRequired { scope: Option<String>, login_host: Option<String> },
    /// An `Authorization` header that is neither Basic nor Bearer credentials.
    BadAuthorization { scope: Option<String> },
    /// The license itself failed: malformed, forged, expired, revoked.
    License { error: LicenseError, scope: Option<String> },
    /// A valid license on a custom domain of another app.
    LicenseWrongRegistry { customer: String, host: String },
    /// A valid license (or its token) for an image of another app.
    LicenseWrongApp { customer: String, app: String, asked: String },
    /// The bearer token failed to verify.
    Token { error: BearerError, scope: Option<String> },
    /// A bearer token issued on another host (or for another app's custom domain).
    TokenWrongRegistry { scope: Option<String> },
    /// A bearer token that does not cover the repository: ask the token endpoint again.
    TokenScope { scope: Option<String> },
    /// A valid license whose entitlements do not include the image.
    NotEntitled { customer: String, name: String },
    /// The `Host` is not served here. `sign_in` for `/v2/` and the token endpoint, where a
    /// 401 is the only answer clients print.
    UnknownHost { host: String, sign_in: bool },
    /// The name's app does not exist.
    UnknownApp { name: String, app: String },
    /// Too many failed sign-ins from this address; `last` is the refusal that was counted.
    SignInLimit { last: Box<Refusal>, retry_after: i64 },
    /// Too many tokens issued to one license in this window.
    TokenLimit { customer: String, retry_after: i64 },
}

/// What the request's `Host` is bound to.
pub async fn host_binding<R: Runtime>(cx: &Ctx<'_, R>, sign_in: bool) -> Result<HostBinding, RegistryError> {
    let hostname = access::hostname_of(&cx.origin.host);
    if cx.settings.default_hosts.iter().any(|h| h == &hostname) {
        return Ok(HostBinding::Default);
    }
    match cx.config().domain_app(&hostname).await? {
        Some(app) => Ok(HostBinding::Custom { app }),
        None => Err(Refusal::UnknownHost { host: hostname, sign_in }.into()),
    }
}

/// Verifies a license: signature and expiry (no storage), then the revocation record (KV,
/// cached in the isolate). A refusal is counted against the client's address.
pub async fn check_license<R: Runtime>(
    cx: &Ctx<'_, R>,
    text: &str,
    scope: Option<String>,
) -> Result<license::Claims, RegistryError> {
    let keys = cx.config().signing_keys().await?;
    let error = match license::verify(text, &keys, cx.now) {
        Ok(claims) => match cx.config().revocation(&claims.id).await? {
            Some(r) if r.revoked_at <= cx.now => {
                LicenseError::Revoked { customer: claims.customer, revoked_at: r.revoked_at }
            }
            _ => return Ok(claims),
        },
        Err(e) => e,
    };
    if cx.records_event() && matches!(error, LicenseError::Expired { .. } | LicenseError::Revoked { .. }) {
        // Genuinely signed, so the event may name whose license was refused.
        if let Ok(claims) = license::verify_signature(text, &keys) {
            cx.note_license(&claims);
        }
    }
    Err(failed_sign_in(cx, Refusal::License { error, scope }).await.into())
}

/// Counts a failed sign-in against the client's address. Over the limit the answer becomes a
/// 429 (keeping the reason), and the address is remembered until the window ends so later
/// failures are answered without asking the limiter. Only failures ever reach this.
pub async fn failed_sign_in<R: Runtime>(cx: &Ctx<'_, R>, refusal: Refusal) -> Refusal {
    let Some(key) = throttle::address_key(cx.request.client_ip.as_deref()) else { return refusal };
    if let Some(left) = cx.isolate.blocked.borrow().blocked_for(&key, cx.now) {
        return Refusal::SignInLimit { last: Box::new(refusal), retry_after: left };
    }
    if cx.rt.within_limit(Limit::SignInFailures, &key).await {
        return refusal;
    }
    let left = throttle::window_remaining(cx.now);
    cx.isolate.blocked.borrow_mut().block(key, cx.now + left, cx.now);
    Refusal::SignInLimit { last: Box::new(refusal), retry_after: left }
}

/// Verifies a bearer token for this host.
pub async fn check_bearer<R: Runtime>(
    cx: &Ctx<'_, R>,
    text: &str,
    scope: Option<String>,
) -> Result<token::Claims, RegistryError> {
    let keys = cx.config().signing_keys().await?;
    let claims = token::verify(text, &keys, cx.now).map_err(|error| Refusal::Token { error, scope: scope.clone() })?;
    if claims.aud != cx.origin.host {
        return Err(Refusal::TokenWrongRegistry { scope }.into());
    }
    Ok(claims)
}

/// Who is pulling, for logs and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub customer: String,
    pub license_id: String,
    pub license_expires: Option<i64>,
}

/// A pull request that passed every check: the app, the upstream and the repository there.
pub struct Authorized {
    pub app: Rc<AppRecord>,
    pub upstream: UpstreamRecord,
    pub upstream_repo: String,
}

/// A verified credential on a registry request.
enum Grant {
    Token(token::Claims),
    License(license::Claims),
}

/// Authorizes pulling `name`: credentials first (so nothing is revealed to anonymous clients),
/// then the app's configuration, then the grant.
pub async fn authorize_pull<R: Runtime>(cx: &Ctx<'_, R>, name: &Name) -> Result<Authorized, RegistryError> {
    let binding = host_binding(cx, false).await?;
    let target: Target = access::resolve_name(name, &binding)?;
    cx.note_target(&target.app, &target.upstream, &target.repo);
    let scope = Some(Scope::repository(name.as_str(), &["pull"]).to_string());
    let credentials = access::parse_authorization(cx.request.authorization.as_deref())
        .map_err(|_| Refusal::BadAuthorization { scope: scope.clone() })?;
    let grant = match credentials {
        None => return Err(Refusal::CredentialsRequired { scope, login_host: None }.into()),
        Some(Credentials::Bearer(t)) => Grant::Token(check_bearer(cx, &t, scope.clone()).await?),
        // A vendor's push token as the Basic password (CI checking its push): the pull grant the
        // token endpoint would give it, instead of a failed license sign-in.
        Some(Credentials::License(l)) if crate::push_token::looks_like(&l) => {
            let asked: Vec<String> = scope.iter().cloned().collect();
            Grant::Token(super::hosted::token::grant(cx, &binding, &l, &asked).await?)
        }
        Some(Credentials::License(l)) => Grant::License(check_license(cx, &l, scope.clone()).await?),
    };
    let (customer, license_id, licensed_app, expires) = match &grant {
        Grant::Token(c) => (&c.cus, &c.lic, &c.app, c.lxp),
        Grant::License(c) => (&c.customer, &c.id, &c.app, Some(c.expires_at)),
    };
    cx.note_caller(customer, license_id, expires);
    let Some(app) = cx.config().app(&target.app).await? else {
        return Err(Refusal::UnknownApp { name: name.to_string(), app: target.app }.into());
    };
    if *licensed_app != target.app {
        // A push token's bearer has no customer: name the push token, not a license.
        if license_id.starts_with(super::hosted::token::ID_PREFIX) {
            return Err(HostedError::WrongApp { app: licensed_app.clone(), asked: target.app }.into());
        }
        return Err(Refusal::LicenseWrongApp {
            customer: customer.clone(),
            app: licensed_app.clone(),
            asked: target.app,
        }
        .into());
    }
    let (upstream, upstream_repo) = access::upstream_repo(&app, &target)?;
    let upstream = upstream.clone();
    let not_entitled = || Refusal::NotEntitled { customer: customer.clone(), name: name.to_string() };
    match &grant {
        Grant::Token(claims) if !claims.grants_pull(name.as_str()) => {
            if !claims.is_entitled(&upstream_repo) {
                return Err(not_entitled().into());
            }
            return Err(Refusal::TokenScope { scope }.into());
        }
        Grant::License(claims) if !claims.is_entitled(&upstream_repo) => return Err(not_entitled().into()),
        _ => {}
    }
    Ok(Authorized { app, upstream, upstream_repo })
}
