//! The pull event of a handled request (`crate::events::Event`): which requests have one, and
//! what it says, from the route, the answer and what the request's checks learned on the way.

use crate::access_log;
use crate::blob_sizes;
use crate::events::{self, Event, Kind};
use crate::reference::Reference;
use crate::route::Route;
use crate::user_agent;

use super::auth::Caller;
use super::reply::Reply;
use super::{Ctx, Runtime};

/// What the checks learned about a request, refused or not (`Ctx::note_target`,
/// `Ctx::note_license`).
#[derive(Debug, Default)]
pub struct Subject {
    pub app: Option<String>,
    /// `<upstream>/<repo>` within the app.
    pub image: Option<String>,
    pub customer: Option<String>,
    pub license: Option<String>,
}

/// The route's part of an event.
#[derive(Debug)]
pub struct Facts {
    kind: Kind,
    /// The name as requested.
    name: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
}

/// Requests that have an event: sign-ins (the token endpoint) and pulls. `/v2/` checks, pushes,
/// the hosted admin channel and unroutable requests have none.
pub fn facts(route: Option<&Route>) -> Option<Facts> {
    let pull =
        |kind, name: &crate::reference::Name| Facts { kind, name: Some(name.to_string()), tag: None, digest: None };
    Some(match route? {
        Route::Token => Facts { kind: Kind::SignIn, name: None, tag: None, digest: None },
        Route::Manifest { name, reference } => {
            let (tag, digest) = match reference {
                Reference::Tag(t) => (Some(t.to_string()), None),
                Reference::Digest(d) => (None, Some(d.to_string())),
            };
            Facts { tag, digest, ..pull(Kind::Manifest, name) }
        }
        Route::Blob { name, digest } => Facts { digest: Some(digest.to_string()), ..pull(Kind::Blob, name) },
        Route::Tags { name } => pull(Kind::Tags, name),
        Route::Referrers { name, digest } => Facts { digest: Some(digest.to_string()), ..pull(Kind::Referrers, name) },
        Route::VersionCheck | Route::Push(_) | Route::HostedAdmin(_) => return None,
    })
}

/// Whether a push token authenticated the request: the vendor's own CI pushing or checking its
/// push (skopeo HEADs every blob first), not a customer's pull, so it stays out of the pull log.
pub fn is_vendor_traffic(subject: &Subject, caller: Option<&Caller>) -> bool {
    let license = caller.map(|c| c.license_id.as_str()).or(subject.license.as_deref());
    license.is_some_and(|id| id.starts_with(super::hosted::token::ID_PREFIX))
}

/// The OCI code and `detail.reason` of a failed request.
pub struct Outcome {
    pub error: Option<&'static str>,
    pub reason: Option<&'static str>,
}

/// The event, or `None` if the runtime had no random id to give it.
pub fn build<R: Runtime, B>(
    cx: &Ctx<'_, R>,
    facts: Facts,
    subject: &Subject,
    reply: &Reply<B>,
    outcome: Outcome,
    caller: Option<&Caller>,
) -> Option<Event> {
    let id = events::event_id(cx.rt.random_id()?);
    let status = reply.status();
    let ok = (200..300).contains(&status);
    let agent = cx.request.user_agent.as_deref().map(user_agent::parse);
    let digest = facts.digest.or_else(|| reply.header("docker-content-digest").filter(|_| ok).map(str::to_string));
    let media_type = match facts.kind {
        Kind::Manifest if ok => reply.header("content-type").map(str::to_string),
        _ => None,
    };
    let blobs = match (reply, subject.app.as_deref(), digest.as_deref()) {
        (Reply::Fixed { body, .. }, Some(app), Some(digest))
            if facts.kind == Kind::Manifest && ok && blob_sizes::lists_blobs(media_type.as_deref()) =>
        {
            let mut noted = cx.isolate.noted_sizes.borrow_mut();
            if noted.contains(app, digest) {
                Vec::new()
            } else {
                let sizes = blob_sizes::of_manifest(body);
                noted.insert(app, digest);
                sizes
            }
        }
        _ => Vec::new(),
    };
    // A redirect's bytes come from the upstream's CDN, whose size the edge does not see.
    let bytes = match facts.kind {
        Kind::Manifest | Kind::Blob if !(300..400).contains(&status) => reply.bytes_served(cx.request.is_head()),
        _ => None,
    };
    Some(Event {
        id,
        at: cx.now,
        kind: facts.kind,
        method: cx.request.method.clone(),
        app: subject.app.clone(),
        customer: caller.map(|c| c.customer.clone()).or_else(|| subject.customer.clone()),
        license: caller.map(|c| c.license_id.clone()).or_else(|| subject.license.clone()),
        image: subject.image.clone().or(facts.name),
        tag: facts.tag,
        digest,
        media_type,
        bytes,
        status,
        outcome: access_log::outcome(status).to_string(),
        error: outcome.error.map(str::to_string),
        reason: outcome.reason.map(str::to_string),
        client: cx.request.client_ip.as_deref().and_then(events::client_prefix),
        country: events::place(cx.request.country.clone()),
        colo: events::place(cx.request.colo.clone()),
        agent: agent.as_ref().map(|a| a.family.to_string()),
        platform: agent.as_ref().and_then(|a| a.platform.clone()),
        agent_version: agent.and_then(|a| a.version),
        blobs,
    })
}
