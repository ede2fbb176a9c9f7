//! An authorized pull: the upstream it goes to, its URLs, and the credentialed send.

use std::rc::Rc;

use crate::error::RegistryError;
use crate::reference::Name;
use crate::scope::Scope;
use crate::store::Secret;
use crate::upstream::{self, Head, Upstream};

use super::auth::{self, Authorized};
use super::{Ctx, Runtime};

/// Everything a registry handler needs once the caller is authorized.
pub struct Pull<'c, 'a, R: Runtime> {
    pub cx: &'c Ctx<'a, R>,
    pub name: Name,
    pub authorized: Authorized,
    pub secret: Option<Rc<Secret>>,
}

impl<'c, 'a, R: Runtime> Pull<'c, 'a, R> {
    /// Authorizes pulling `name` and opens the upstream's credential.
    pub async fn authorize(cx: &'c Ctx<'a, R>, name: Name) -> Result<Self, RegistryError> {
        let authorized = auth::authorize_pull(cx, &name).await?;
        let secret = cx.config().upstream_secret(&authorized.app.slug, &authorized.upstream)?;
        Ok(Pull { cx, name, authorized, secret })
    }

    /// Served from the app's hosted registry (R2), not proxied.
    pub fn is_hosted(&self) -> bool {
        self.authorized.upstream.hosted
    }

    pub fn upstream(&self) -> Upstream<'_> {
        Upstream {
            app: &self.authorized.app.slug,
            record: &self.authorized.upstream,
            secret: self.secret.as_deref(),
            allow_insecure: self.cx.settings.allow_insecure,
        }
    }

    /// `<api base>/v2/<upstream repo>/<tail>`.
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.authorized.upstream.api_base(), self.authorized.upstream_repo)
    }

    /// Sends with the vendor's credential, answering the upstream's challenge.
    pub async fn send(&self, req: upstream::Request) -> Result<(Head, R::Body), RegistryError> {
        let scope = Scope::repository(&self.authorized.upstream_repo, &["pull"]).to_string();
        Ok(upstream::send(self.cx.rt, &self.cx.isolate.tokens, &self.upstream(), req, &scope).await?)
    }
}
