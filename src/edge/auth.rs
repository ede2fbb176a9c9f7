//! Client authentication at the edge: the host's binding, licenses (with the revocation check)
//! and bearer tokens, decided before any upstream request is made.

use std::rc::Rc;

use crate::access::{self, Credentials, HostBinding, Target};
use crate::error::RegistryError;
use crate::license::{self, LicenseError};
use crate::reference::Name;
use crate::store::{AppRecord, UpstreamRecord};
use crate::token;

use super::config::Config;

/// What the request's `Host` is bound to. Unknown hosts get 404 without a list of what exists.
pub async fn host_binding(cfg: &Config<'_>, host: &str) -> Result<HostBinding, RegistryError> {
    let hostname = access::hostname_of(host);
    if cfg.settings.default_hosts.iter().any(|h| h == &hostname) {
        return Ok(HostBinding::Default);
    }
    match cfg.domain_app(&hostname).await? {
        Some(app) => Ok(HostBinding::Custom { app }),
        None => Err(RegistryError::name_unknown("this host is not a registry served here")),
    }
}

fn license_refusal(e: LicenseError) -> RegistryError {
    match e {
        LicenseError::Expired { .. } | LicenseError::Revoked { .. } => RegistryError::denied(e.to_string()),
        LicenseError::Malformed | LicenseError::UnknownKey | LicenseError::BadSignature => {
            RegistryError::unauthorized(e.to_string(), None)
        }
    }
}

/// Verifies a license: signature and expiry (no storage), then the revocation record (KV,
/// cached in the isolate for `CONFIG_CACHE_SECONDS`).
/// Refusals count against the client's address (see `throttle`).
pub async fn check_license(cfg: &Config<'_>, text: &str) -> Result<license::Claims, RegistryError> {
    cfg.refuse_blocked_address()?;
    let keys = cfg.signing_keys().await?;
    let claims = match license::verify(text, &keys, cfg.now) {
        Ok(claims) => claims,
        Err(e) => return Err(cfg.failed_sign_in(license_refusal(e)).await),
    };
    if let Some(r) = cfg.revocation(&claims.id).await? {
        let revoked = LicenseError::Revoked { customer: claims.customer, revoked_at: r.revoked_at };
        return Err(cfg.failed_sign_in(license_refusal(revoked)).await);
    }
    Ok(claims)
}

/// Verifies a bearer token for this host; any failure asks the client to authenticate again.
pub async fn check_bearer(
    cfg: &Config<'_>,
    text: &str,
    host: &str,
    scope: Option<String>,
) -> Result<token::Claims, RegistryError> {
    let keys = cfg.signing_keys().await?;
    let claims = token::verify(text, &keys, cfg.now)
        .map_err(|e| RegistryError::unauthorized(e.to_string(), scope.clone()).with_challenge_error("invalid_token"))?;
    if claims.aud != host.to_ascii_lowercase() {
        return Err(RegistryError::unauthorized("bearer token was issued for another registry host", scope)
            .with_challenge_error("invalid_token"));
    }
    Ok(claims)
}

/// Who is pulling, for logs.
pub struct Caller {
    pub customer: String,
    pub license_id: String,
}

/// A pull request that passed every check: the app, the upstream and the repository there.
pub struct Authorized {
    pub caller: Caller,
    pub app: Rc<AppRecord>,
    pub upstream: UpstreamRecord,
    pub upstream_repo: String,
}

/// Authorizes pulling `name`: credentials first (so nothing is revealed to anonymous
/// clients), then the app's configuration, then the grant.
pub async fn authorize_pull(
    cfg: &Config<'_>,
    authorization: Option<&str>,
    host: &str,
    binding: &HostBinding,
    name: &Name,
) -> Result<Authorized, RegistryError> {
    let target: Target = access::resolve_name(name, binding)?;
    let scope = Some(format!("repository:{}:pull", name.as_str()));
    let credentials = access::parse_authorization(authorization).map_err(|e| RegistryError {
        challenge: Some(crate::error::ChallengeHint { scope: scope.clone(), error: None }),
        ..e
    })?;
    enum Grant {
        Token(token::Claims),
        License(license::Claims),
    }
    let grant = match credentials {
        None => return Err(RegistryError::unauthorized("authentication required: log in with your license", scope)),
        Some(Credentials::Bearer(t)) => {
            let claims = check_bearer(cfg, &t, host, scope.clone()).await?;
            if claims.app != target.app {
                return Err(RegistryError::unauthorized("bearer token was issued for another app", scope)
                    .with_challenge_error("invalid_token"));
            }
            Grant::Token(claims)
        }
        Some(Credentials::License(l)) => {
            let claims = check_license(cfg, &l).await.map_err(|e| RegistryError {
                challenge: e.challenge.map(|_| crate::error::ChallengeHint { scope: scope.clone(), error: None }),
                ..e
            })?;
            if claims.app != target.app {
                return Err(RegistryError::denied(format!(
                    "the license for {} is not valid for app {}",
                    claims.customer, target.app
                )));
            }
            Grant::License(claims)
        }
    };
    let app = cfg
        .app(&target.app)
        .await?
        .ok_or_else(|| RegistryError::name_unknown(format!("repository {} is not known here", name.as_str())))?;
    let (upstream, upstream_repo) = access::upstream_repo(&app, &target)?;
    let upstream = upstream.clone();
    let caller = match grant {
        Grant::Token(claims) => {
            if !claims.grants_pull(name.as_str()) {
                if !claims.is_entitled(&upstream_repo) {
                    return Err(access::not_entitled(&claims.cus, name.as_str()));
                }
                return Err(RegistryError::unauthorized("bearer token does not cover this repository", scope)
                    .with_challenge_error("insufficient_scope"));
            }
            Caller { customer: claims.cus, license_id: claims.lic }
        }
        Grant::License(claims) => {
            if !claims.is_entitled(&upstream_repo) {
                return Err(access::not_entitled(&claims.customer, name.as_str()));
            }
            Caller { customer: claims.customer, license_id: claims.id }
        }
    };
    Ok(Authorized { caller, app, upstream, upstream_repo })
}
