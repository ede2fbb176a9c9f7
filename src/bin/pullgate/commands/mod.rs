//! Command implementations, one module per noun, and what they share: the context (output
//! mode, clock, lazily opened KV backend) and lookups every noun needs.

mod app;
mod domain;
mod gc;
mod hosted_admin;
mod http;
mod image_checks;
mod images;
mod key;
mod license;
mod license_renew;
mod logs;
mod pull_check;
mod pull_secret;
mod push;
mod push_token;
mod upstream;
mod upstream_probe;
mod usage;
mod webhook;

use std::cell::OnceCell;

use pullgate::keys::{KeysetRecord, RootSecret, SigningKey, SigningKeys};
use pullgate::store::{self, AppRecord};

use crate::cli::Command;
use crate::failure::{Failure, Outcome};
use crate::kv::{self, BackendOptions, Kv};
use crate::output::Output;

/// What every command gets: output mode, the current time, and the KV backend (opened on first
/// use, so commands that never touch KV work without one configured).
pub struct Ctx {
    pub out: Output,
    pub now: i64,
    backend: BackendOptions,
    kv: OnceCell<Box<dyn Kv>>,
}

impl Ctx {
    pub fn new(out: Output, now: i64, backend: BackendOptions) -> Self {
        Ctx { out, now, backend, kv: OnceCell::new() }
    }

    /// A context over an already open store (tests).
    #[cfg(test)]
    pub fn with_kv(kv: Box<dyn Kv>, now: i64) -> Self {
        let ctx = Ctx::new(Output { json: true }, now, BackendOptions::default());
        let _ = ctx.kv.set(kv);
        ctx
    }

    pub fn kv(&self) -> Outcome<&dyn Kv> {
        if self.kv.get().is_none() {
            let opened = self.backend.open()?;
            let _ = self.kv.set(opened);
        }
        self.kv.get().map(|k| k.as_ref()).ok_or_else(|| Failure::failed("KV backend unavailable"))
    }

    /// Whether a backend is configured at all (for commands where KV is optional).
    pub fn has_backend(&self) -> bool {
        self.kv.get().is_some()
            || self.backend.backend.is_some()
            || crate::settings::env(crate::settings::ENV_BACKEND).is_some()
    }

    pub fn backend_options(&self) -> &BackendOptions {
        &self.backend
    }

    /// `--insecure-dev` records (plain http, loopback, `localhost`) exist for `wrangler dev`; in
    /// the production namespace they would point real customers' pulls at them, so the
    /// Cloudflare backend refuses the flag before anything is read or written.
    pub fn refuse_insecure_dev_in_production(&self) -> Outcome<()> {
        if self.backend.selected().as_deref() == Some("cloudflare") {
            return Err(Failure::usage("--insecure-dev is refused on the cloudflare backend (production KV)").hint(
                "use it only with --backend local (the `wrangler dev` store); production upstreams and domains \
                 need https and public host names",
            ));
        }
        Ok(())
    }
}

/// Runs one parsed command.
pub fn run(ctx: &Ctx, command: Command) -> Outcome<()> {
    match command {
        Command::App(c) => app::run(ctx, c),
        Command::Domain(c) => domain::run(ctx, c),
        Command::Upstream(c) => upstream::run(ctx, c),
        Command::Key(c) => key::run(ctx, c),
        Command::License(c) => license::run(ctx, c),
        Command::PullCheck(args) => pull_check::run(ctx, &args),
        Command::Images(c) => images::run(ctx, c),
        Command::PushToken(c) => push_token::run(ctx, c),
        Command::Hosted(c) => push_token::run_hosted(ctx, c),
        Command::Logs(args) => logs::run(ctx, args),
        Command::Usage(args) => usage::run(ctx, args),
        Command::Push(args) => push::run(ctx, &args),
        Command::Gc(args) => gc::run(ctx, &args),
        Command::Webhook(c) => webhook::run(ctx, c),
    }
}

/// The failure for a missing app, with the way to see which exist.
pub fn no_such_app(slug: &str) -> Failure {
    Failure::failed(format!("no app {slug:?}")).hint("see `pullgate app list`, or create it with `pullgate app add`")
}

/// Reads `app:<slug>` (after validating the slug); fails when it does not exist.
pub fn require_app(kv: &dyn Kv, slug: &str) -> Outcome<AppRecord> {
    let slug = crate::validate::slug(slug)?;
    kv::get_record(kv, &store::app_key(&slug))?.ok_or_else(|| no_such_app(&slug))
}

/// Opens the keyset with the root secret, so a wrong root secret is caught before anything is
/// sealed or signed with it (the edge could never open those).
pub fn open_keyset(root: &RootSecret, keyset: &KeysetRecord) -> Outcome<SigningKeys> {
    SigningKeys::open(root, keyset).map_err(|e| {
        Failure::failed(format!("the root secret does not open the signing keys in KV: {e}")).hint(format!(
            "use the same {} the Worker has (`wrangler secret put`); the keys in KV were sealed with it",
            pullgate::keys::ROOT_SECRET_NAME
        ))
    })
}

/// The signing keys a credential for app `slug` is issued with; fails unless the app exists.
pub fn keys_for_app(ctx: &Ctx, root: &RootSecret, slug: &str) -> Outcome<SigningKeys> {
    let found = ctx.kv()?.get_many(&[store::app_key(slug), store::KEYSET_KEY.to_string()])?;
    if found[0].is_none() {
        return Err(no_such_app(slug));
    }
    let keyset: KeysetRecord = match &found[1] {
        Some(v) => kv::decode(store::KEYSET_KEY, v)?,
        None => return Err(Failure::failed("there are no signing keys yet").hint("run `pullgate key init` first")),
    };
    open_keyset(root, &keyset)
}

/// The key new credentials are signed with.
pub fn active_signer(keys: &SigningKeys) -> Outcome<&SigningKey> {
    keys.signer().ok_or_else(|| {
        Failure::failed("no active signing key").hint("run `pullgate key rotate` to promote the pending key")
    })
}

/// Finds an upstream of `app` by alias, host, or endpoint URL.
pub fn find_upstream<'a>(app: &'a AppRecord, name: &str) -> Option<(usize, &'a store::UpstreamRecord)> {
    let wanted = name.trim().trim_end_matches('/').to_ascii_lowercase();
    let by_endpoint = crate::validate::endpoint(&wanted, true).ok().map(|e| e.url);
    app.upstreams.iter().enumerate().find(|(_, u)| {
        u.alias.as_deref() == Some(wanted.as_str())
            || u.display_name() == wanted
            || by_endpoint.as_deref() == Some(u.endpoint.as_str())
    })
}

#[cfg(test)]
pub mod test_support {
    //! A memory-backed context and a fixed root secret for command tests.
    use super::*;
    use crate::kv::MemoryKv;

    pub const NOW: i64 = 1_790_000_000;
    /// The one root secret unit tests use (the environment is shared by all test threads).
    pub const ROOT_HEX: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    /// Configures `ROOT_HEX` as PULLGATE_ROOT_SECRET for this test process.
    pub fn with_root() {
        static SET: std::sync::Once = std::sync::Once::new();
        SET.call_once(|| std::env::set_var(pullgate::keys::ROOT_SECRET_NAME, ROOT_HEX));
    }

    /// A context over an empty in-memory store; `kv_map` reads it back.
    pub fn ctx() -> Ctx {
        Ctx::with_kv(Box::new(MemoryKv::default()), NOW)
    }

    /// A context over an empty in-memory store that reads `wrangler_toml` as the Worker's config.
    pub fn ctx_with_wrangler_config(wrangler_toml: &std::path::Path) -> Ctx {
        let options = BackendOptions { wrangler_config: Some(wrangler_toml.to_path_buf()), ..Default::default() };
        let ctx = Ctx::new(Output { json: true }, NOW, options);
        let _ = ctx.kv.set(Box::new(MemoryKv::default()));
        ctx
    }

    /// Stores an empty app (no upstreams) under `slug`, as `app add` would.
    pub fn put_app(ctx: &Ctx, slug: &str) {
        let app = pullgate::store::AppRecord {
            v: 1,
            slug: slug.into(),
            name: slug.into(),
            blob_mode: Default::default(),
            created_at: 0,
            upstreams: vec![],
            hosted_quota: None,
        };
        let encoded = crate::kv::encode(&app).unwrap();
        ctx.kv().unwrap().put_many(&[(pullgate::store::app_key(slug), encoded)]).unwrap();
    }

    /// A private directory for one test's files (secrets among them), removed when dropped, so
    /// no credential-shaped file outlives the test.
    pub fn temp_dir() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("pullgate-test-").tempdir().unwrap()
    }

    /// Writes `content` to `name` inside `dir` and returns its path.
    pub fn write_file(dir: &tempfile::TempDir, name: &str, content: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn snapshot(ctx: &Ctx) -> std::collections::BTreeMap<String, String> {
        let kv = ctx.kv().unwrap();
        crate::kv::load_prefixes(kv, &[""]).unwrap()
    }
}
