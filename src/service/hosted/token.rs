//! The token endpoint's answer to a push token: a bearer token granting `pull`, `push` and
//! (for tokens issued with delete) `delete` on the requested repositories that are inside the
//! token's app's hosted registry and its repository patterns. Nothing else is ever granted.

use crate::access::{self, HostBinding};
use crate::error::RegistryError;
use crate::reference::Name;
use crate::scope;
use crate::token;

use super::super::request::BadRequest;
use super::super::{Ctx, Runtime};
use super::auth::check_pusher;
use super::HostedError;

/// Push token ids start with this (license ids with `lic_`).
pub const ID_PREFIX: &str = "pt_";

/// The claims of the bearer token to issue for `text` (a push token) and `scopes`.
pub async fn grant<R: Runtime>(
    cx: &Ctx<'_, R>,
    binding: &HostBinding,
    text: &str,
    scopes: &[String],
) -> Result<token::Claims, RegistryError> {
    let claims = check_pusher(cx, text).await?;
    if binding.app().is_some_and(|a| a != claims.app) {
        let host = access::hostname_of(&cx.origin.host);
        return Err(HostedError::WrongRegistry { host }.into());
    }
    let requested = scope::parse_all(scopes.iter().map(String::as_str)).map_err(BadRequest::Scope)?;
    let app = cx.config().app(&claims.app).await?;
    let (mut rep, mut push, mut del) = (Vec::new(), Vec::new(), Vec::new());
    for s in requested.iter().filter(|s| s.resource_type == "repository") {
        let Ok(name) = s.name.parse::<Name>() else { continue };
        let Ok(target) = access::resolve_name(&name, binding) else { continue };
        let Some(app) = app.as_deref().filter(|a| a.slug == target.app && target.app == claims.app) else { continue };
        if !app.upstream_named(&target.upstream).is_some_and(|u| u.hosted) || !claims.covers(&target.repo) {
            continue;
        }
        let all = s.has_action("*");
        for (action, list, allowed) in
            [("pull", &mut rep, true), ("push", &mut push, true), ("delete", &mut del, claims.delete)]
        {
            if allowed && (all || s.has_action(action)) && !list.contains(&s.name) {
                list.push(s.name.clone());
            }
        }
    }
    Ok(token::Claims {
        aud: cx.origin.host.clone(),
        app: claims.app.clone(),
        lic: claims.id.clone(),
        cus: "push token".into(),
        rep,
        img: Vec::new(),
        lxp: None,
        push,
        del,
        iat: 0,
        nbf: 0,
        exp: claims.exp,
    })
}
