//! `GET|POST /v2/token`: a license (the Basic password, or containerd's OAuth password grant)
//! exchanged for a short-lived bearer token covering the granted part of the requested scopes.
//!
//! Every refusal here is a 401 with its reason: podman, skopeo, buildah and containerd print a
//! token endpoint's message only on 401.

use serde::Serialize;

use crate::access::{self, Credentials};
use crate::error::RegistryError;
use crate::scope;
use crate::throttle::{self, Limit};
use crate::time::format_rfc3339;
use crate::token;

use super::auth::{self, Refusal};
use super::config::ConfigError;
use super::reply::{set_header, Reply};
use super::request::{BadRequest, FormBody};
use super::{Ctx, Runtime};

/// Largest `application/x-www-form-urlencoded` body read from a token POST.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Serialize)]
struct TokenAnswer<'a> {
    token: &'a str,
    access_token: &'a str,
    expires_in: i64,
    issued_at: String,
}

fn bad_request(message: impl Into<String>) -> RegistryError {
    BadRequest::TokenRequest(message.into()).into()
}

pub async fn token<R: Runtime, B>(cx: &Ctx<'_, R>) -> Result<Reply<B>, RegistryError> {
    let binding = auth::host_binding(cx, true).await?;
    let mut scopes: Vec<String> = cx.request.query_values("scope");
    let mut license_text = match access::parse_authorization(cx.request.authorization.as_deref()) {
        Ok(Some(Credentials::License(l))) => Some(l),
        _ => None,
    };
    if cx.request.method == "POST" {
        let form = match &cx.request.form {
            FormBody::Read(bytes) => bytes,
            FormBody::TooLarge => return Err(bad_request(format!("form body larger than {MAX_FORM_BYTES} bytes"))),
            FormBody::Unreadable | FormBody::Absent => return Err(bad_request("unreadable form body")),
        };
        let mut grant_type = None;
        for (k, v) in url::form_urlencoded::parse(form) {
            match k.as_ref() {
                "grant_type" => grant_type = Some(v.into_owned()),
                "password" => license_text = Some(v.into_owned()),
                "scope" => scopes.push(v.into_owned()),
                _ => {}
            }
        }
        if grant_type.as_deref() != Some("password") {
            // We issue no refresh tokens; containerd then retries with GET.
            return Err(bad_request("only grant_type=password is supported"));
        }
    }
    let Some(license_text) = license_text else {
        return Err(Refusal::CredentialsRequired { scope: None, login_host: Some(cx.origin.host.clone()) }.into());
    };
    if crate::push_token::looks_like(&license_text) {
        let claims = super::hosted::token::grant(cx, &binding, &license_text, &scopes).await?;
        return bearer_answer(cx, claims).await;
    }
    let claims = auth::check_license(cx, &license_text, None).await?;
    cx.note_license(&claims);
    if binding.app().is_some_and(|a| a != claims.app) {
        let refusal = Refusal::LicenseWrongRegistry {
            customer: claims.customer.clone(),
            host: access::hostname_of(&cx.origin.host),
        };
        return Err(auth::failed_sign_in(cx, refusal).await.into());
    }
    cx.note_caller(&claims.customer, &claims.id, Some(claims.expires_at));
    if !cx.rt.within_limit(Limit::TokenIssuance, &throttle::issuance_key(&claims.id)).await {
        let retry_after = throttle::window_remaining(cx.now);
        return Err(Refusal::TokenLimit { customer: claims.customer.clone(), retry_after }.into());
    }
    let requested = scope::parse_all(scopes.iter().map(String::as_str)).map_err(BadRequest::Scope)?;
    let app = cx.config().app(&claims.app).await?;
    let granted = access::grant(&claims, &requested, &binding, app.as_deref());
    let claims = token::Claims {
        aud: cx.origin.host.clone(),
        app: claims.app.clone(),
        lic: claims.id.clone(),
        cus: claims.customer.clone(),
        rep: granted,
        img: claims.images.clone(),
        lxp: Some(claims.expires_at),
        push: Vec::new(),
        del: Vec::new(),
        iat: 0,
        nbf: 0,
        exp: claims.expires_at,
    };
    bearer_answer(cx, claims).await
}

/// Signs `claims` with the active key and answers the token JSON. `claims.exp` comes in as the
/// credential's own expiry: a token never outlives it, and lives at least a minute (clients
/// refuse less).
pub(crate) async fn bearer_answer<R: Runtime, B>(
    cx: &Ctx<'_, R>,
    mut claims: token::Claims,
) -> Result<Reply<B>, RegistryError> {
    let keys = cx.config().signing_keys().await?;
    let signer = keys
        .signer()
        .ok_or(ConfigError::NotConfigured("no active signing key: the vendor must run `pullgate key rotate`"))?;
    let ttl = cx.settings.token_ttl.min(claims.exp.saturating_sub(cx.now)).max(token::MIN_TTL_SECONDS);
    (claims.iat, claims.nbf, claims.exp) = (cx.now, cx.now, cx.now.saturating_add(ttl));
    let bearer = token::issue(&claims, signer);
    let answer =
        TokenAnswer { token: &bearer, access_token: &bearer, expires_in: ttl, issued_at: format_rfc3339(cx.now) };
    let body = serde_json::to_vec(&answer).map_err(|e| RegistryError::internal(format!("token json: {e}")))?;
    let mut reply = Reply::json(200, body);
    set_header(reply.headers_mut(), "cache-control", "no-store");
    Ok(reply)
}

/// `GET /v2/`: 200 for a valid credential on this host, else the challenge.
pub async fn version_check<R: Runtime, B>(cx: &Ctx<'_, R>) -> Result<Reply<B>, RegistryError> {
    let binding = auth::host_binding(cx, true).await?;
    let credentials = access::parse_authorization(cx.request.authorization.as_deref())
        .map_err(|_| Refusal::BadAuthorization { scope: None })?;
    match credentials {
        None => return Err(Refusal::CredentialsRequired { scope: None, login_host: None }.into()),
        Some(Credentials::Bearer(t)) => {
            let claims = auth::check_bearer(cx, &t, None).await?;
            if binding.app().is_some_and(|a| a != claims.app) {
                return Err(Refusal::TokenWrongRegistry { scope: None }.into());
            }
        }
        Some(Credentials::License(l)) => {
            let claims = auth::check_license(cx, &l, None).await?;
            if binding.app().is_some_and(|a| a != claims.app) {
                let host = access::hostname_of(&cx.origin.host);
                let refusal = Refusal::LicenseWrongRegistry { customer: claims.customer, host };
                return Err(auth::failed_sign_in(cx, refusal).await.into());
            }
        }
    }
    Ok(Reply::json(200, b"{}".to_vec()))
}
