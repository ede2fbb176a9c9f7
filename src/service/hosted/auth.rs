//! Who may push: a bearer token from a push token (the token endpoint granted `push` or
//! `delete` on the name), or the push token itself as the Basic password. A license, or a
//! token issued for one, never pushes. Only hosted upstreams take pushes.

use std::rc::Rc;

use crate::access::{self, Credentials};
use crate::error::RegistryError;
use crate::push_token;
use crate::reference::Name;
use crate::scope::Scope;
use crate::store::AppRecord;
use crate::token;

use super::super::auth::{self as client_auth, Refusal};
use super::super::{Ctx, Runtime};
use super::HostedError;

/// What a push request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Push,
    Delete,
}

/// The verified credential of a push request.
pub enum Actor {
    Bearer(token::Claims),
    PushToken(push_token::Claims),
}

impl Actor {
    /// Whether the actor may read `name` (`repo` inside the hosted registry), as a mount source.
    pub fn may_pull(&self, name: &str, repo: &str) -> bool {
        match self {
            Actor::Bearer(c) => c.grants_pull(name),
            Actor::PushToken(c) => c.covers(repo),
        }
    }
}

/// An authorized push: the app, the repository inside its hosted registry, and who.
pub struct Push<'c, 'a, R: Runtime> {
    pub cx: &'c Ctx<'a, R>,
    pub name: Name,
    pub app: Rc<AppRecord>,
    pub repo: String,
    pub actor: Actor,
}

/// Verifies a push token for pushing: an admin token (gc's) is refused.
pub async fn check_pusher<R: Runtime>(cx: &Ctx<'_, R>, text: &str) -> Result<push_token::Claims, RegistryError> {
    let claims = check_push_token(cx, text).await?;
    if claims.admin {
        return Err(HostedError::PushToken(push_token::PushTokenError::Malformed).into());
    }
    Ok(claims)
}

/// Verifies a push token: signature, expiry, then its revocation record.
pub async fn check_push_token<R: Runtime>(cx: &Ctx<'_, R>, text: &str) -> Result<push_token::Claims, RegistryError> {
    let keys = cx.config().signing_keys().await?;
    let claims = push_token::verify(text, &keys, cx.now).map_err(HostedError::PushToken)?;
    if cx.config().revocation(&claims.id).await?.is_some() {
        return Err(HostedError::PushToken(push_token::PushTokenError::Revoked).into());
    }
    cx.note_caller("push token", &claims.id, None);
    Ok(claims)
}

/// Authorizes `action` on `name`: credentials first, then the app and its hosted upstream.
pub async fn authorize<'c, 'a, R: Runtime>(
    cx: &'c Ctx<'a, R>,
    name: Name,
    action: Action,
) -> Result<Push<'c, 'a, R>, RegistryError> {
    let binding = client_auth::host_binding(cx, false).await?;
    let target = access::resolve_name(&name, &binding)?;
    let verbs: &[&str] = match action {
        Action::Push => &["pull", "push"],
        Action::Delete => &["delete"],
    };
    let scope = Some(Scope::repository(name.as_str(), verbs).to_string());
    let credentials = access::parse_authorization(cx.request.authorization.as_deref())
        .map_err(|_| Refusal::BadAuthorization { scope: scope.clone() })?;
    let actor = match credentials {
        None => return Err(Refusal::CredentialsRequired { scope, login_host: None }.into()),
        Some(Credentials::License(text)) if push_token::looks_like(&text) => {
            Actor::PushToken(check_pusher(cx, &text).await?)
        }
        Some(Credentials::License(_)) => return Err(HostedError::LicenseCannotPush.into()),
        Some(Credentials::Bearer(text)) => {
            let claims = client_auth::check_bearer(cx, &text, scope.clone()).await?;
            cx.note_caller(&claims.cus, &claims.lic, claims.lxp);
            Actor::Bearer(claims)
        }
    };
    let actor_app = match &actor {
        Actor::Bearer(c) => &c.app,
        Actor::PushToken(c) => &c.app,
    };
    if *actor_app != target.app {
        return Err(HostedError::WrongApp { app: actor_app.clone(), asked: target.app.clone() }.into());
    }
    let Some(app) = cx.config().app(&target.app).await? else {
        return Err(Refusal::UnknownApp { name: name.to_string(), app: target.app }.into());
    };
    let upstream = app.upstream_named(&target.upstream).ok_or_else(|| access::NameError::UpstreamNotConfigured {
        upstream: target.upstream.clone(),
        app: app.slug.clone(),
    })?;
    if !upstream.hosted {
        return Err(HostedError::NotHosted { upstream: upstream.display_name() }.into());
    }
    let allowed = match (&actor, action) {
        (Actor::Bearer(c), Action::Push) => c.grants_push(name.as_str()),
        (Actor::Bearer(c), Action::Delete) => c.grants_delete(name.as_str()),
        (Actor::PushToken(c), Action::Push) => c.covers(&target.repo),
        (Actor::PushToken(c), Action::Delete) => c.delete && c.covers(&target.repo),
    };
    if !allowed {
        return Err(match &actor {
            // A license's token never carries push: say so rather than send it back to log in.
            Actor::Bearer(c) if !c.lic.starts_with(super::token::ID_PREFIX) => HostedError::LicenseCannotPush.into(),
            Actor::Bearer(_) => Refusal::TokenScope { scope }.into(),
            Actor::PushToken(_) => HostedError::OutsideToken { name: name.to_string() }.into(),
        });
    }
    Ok(Push { cx, name, app, repo: target.repo, actor })
}
