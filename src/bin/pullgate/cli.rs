//! The command tree: `pullgate <noun> <verb>`, global flags, and the help text users read.

#[cfg(test)]
use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pullgate::store::CredentialKind;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (KV error, conflict, missing record, refused)
  2  usage or validation error (nothing was written)
  3  credentials rejected          (pull-check, upstream test)
  4  repository/manifest/blob not found
  5  rate limited
  6  network, TLS or DNS failure
  7  outside the upstream's allow-patterns or the license's entitlements

Environment:
  PULLGATE_BACKEND           local | cloudflare (or --backend)
  PULLGATE_LOCAL_STATE       local: the `wrangler dev --persist-to` dir (or --state-dir)
  PULLGATE_WRANGLER          local: wrangler command (default <repo>/node_modules/.bin/wrangler)
  PULLGATE_WRANGLER_CONFIG   wrangler.toml (default: found from the working directory up)
  CLOUDFLARE_ACCOUNT_ID      cloudflare: account id (or --account-id)
  CLOUDFLARE_API_TOKEN       cloudflare: API token with Workers KV Storage: Edit (or --api-token-file)
  PULLGATE_KV_NAMESPACE_ID   cloudflare: namespace id (or --namespace-id, or wrangler.toml)
  PULLGATE_CF_API_BASE       cloudflare: API base URL (default https://api.cloudflare.com/client/v4)
  PULLGATE_ROOT_SECRET       the Worker's root secret, 64 hex characters
  PULLGATE_ROOT_SECRET_FILE  a file holding it (bare hex or PULLGATE_ROOT_SECRET=<hex>)
  PULLGATE_CNAME_TARGET      the Worker's hostname, printed by `domain add` (default: from wrangler.toml)";

/// Admin CLI of pullgate, the authenticating container-image proxy registry: manages the apps,
/// domains, upstream registries, signing keys and licenses the edge reads from KV.
#[derive(Debug, Parser)]
#[command(name = "pullgate", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Print one JSON document on stdout (stable shapes, see docs/cli.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// Where the edge's KV lives [env: PULLGATE_BACKEND].
    #[arg(long, global = true, value_enum)]
    pub backend: Option<Backend>,
    /// local: the `wrangler dev --persist-to` directory [env: PULLGATE_LOCAL_STATE].
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The Worker's wrangler.toml [env: PULLGATE_WRANGLER_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    pub wrangler_config: Option<PathBuf>,
    /// cloudflare: account id [env: CLOUDFLARE_ACCOUNT_ID].
    #[arg(long, global = true, value_name = "ID")]
    pub account_id: Option<String>,
    /// cloudflare: KV namespace id [env: PULLGATE_KV_NAMESPACE_ID; default: wrangler.toml].
    #[arg(long, global = true, value_name = "ID")]
    pub namespace_id: Option<String>,
    /// cloudflare: file holding the API token [default: env CLOUDFLARE_API_TOKEN].
    #[arg(long, global = true, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Backend {
    /// The local store `wrangler dev` reads (through wrangler's own kv commands).
    Local,
    /// The production namespace, through the Cloudflare API.
    Cloudflare,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Cloudflare => "cloudflare",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apps: a vendor product whose images customers pull.
    #[command(subcommand)]
    App(AppCommand),
    /// Custom domains customers pull from (images.vendor.com → an app).
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Upstream registries of an app, and the vendor credentials for them.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Signing keys for licenses and bearer tokens.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Customer licenses.
    #[command(subcommand)]
    License(LicenseCommand),
    /// Pull an image through the edge as a customer would, and say where it breaks.
    PullCheck(PullCheckArgs),
    /// Images in Kubernetes manifests, Helm values and kustomizations.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Vendor push tokens for the hosted registry (the `docker login` password of CI).
    #[command(subcommand)]
    PushToken(PushTokenCommand),
    /// The app's hosted registry on R2.
    #[command(subcommand)]
    Hosted(HostedCommand),
    /// The pull log: sign-ins and pulls, newest first (the events database, D1).
    Logs(LogsArgs),
    /// Pulls, distinct client networks and bytes; `usage versions`: who runs which version.
    Usage(UsageArgs),
    /// Push an image to the hosted registry in chunks that fit the body limit; resumes.
    Push(PushArgs),
    /// Collect what no tag of an app's hosted registry reaches, and abandoned uploads.
    Gc(GcArgs),
    /// Webhooks: signed POSTs to the vendor's URL for pulls, denials and expiring licenses.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a hook; prints its signing secret once (stored sealed with the root secret).
    Add {
        #[arg(long)]
        app: String,
        /// Where deliveries are POSTed: https to a public host.
        url: String,
        /// Which events: pull, denied, license-expiring, comma separated (default: all three).
        #[arg(long, default_value = "pull,denied,license-expiring")]
        events: String,
        /// Local backend only (refused on cloudflare): also accept plain http and loopback URLs.
        #[arg(long)]
        insecure_dev: bool,
    },
    /// List hooks with their last delivery status and given-up deliveries.
    List {
        /// Only this app's hooks.
        #[arg(long)]
        app: Option<String>,
    },
    /// Remove a hook; its queued deliveries are dropped.
    Remove { id: String },
    /// Send one signed `test` delivery from this machine and show the receiver's answer.
    Test { id: String },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogsArgs {
    #[command(subcommand)]
    pub action: Option<LogsAction>,
    #[command(flatten)]
    pub query: LogsQuery,
}

#[derive(Debug, Args)]
pub struct LogsQuery {
    /// The app (required).
    #[arg(long)]
    pub app: Option<String>,
    /// Only this customer (the name in its licenses).
    #[arg(long)]
    pub customer: Option<String>,
    /// Only this license id.
    #[arg(long)]
    pub license: Option<String>,
    /// Only this image, `<upstream>/<repo>` as in the app (e.g. ghcr/acme/api).
    #[arg(long)]
    pub image: Option<String>,
    /// From this long ago (7d, 12h, 30min), or a date or RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only this outcome: ok, redirected, refused, not_found, rate_limited, bad_request,
    /// upstream_failed, error.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only this kind: sign_in, manifest, blob, tags, referrers.
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many events, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum LogsAction {
    /// Delete every event and usage row of a customer (e.g. one who leaves).
    Purge {
        #[arg(long)]
        customer: String,
        /// Only in this app (default: every app).
        #[arg(long)]
        app: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UsageArgs {
    #[command(subcommand)]
    pub action: Option<UsageAction>,
    /// The app (required).
    #[arg(long)]
    pub app: Option<String>,
    /// One row per customer, image, image version, or day.
    #[arg(long, value_enum, default_value = "customer")]
    pub by: UsageBy,
    /// From this long ago (30d, 12h) or a date; counted in whole UTC days.
    #[arg(long, default_value = "30d")]
    pub since: String,
}

#[derive(Debug, Subcommand)]
pub enum UsageAction {
    /// For each customer, the newest version of each image it pulled, and when.
    Versions {
        #[arg(long)]
        app: Option<String>,
        /// Only this image, `<upstream>/<repo>`.
        #[arg(long)]
        image: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UsageBy {
    Customer,
    Image,
    Version,
    Day,
}

impl UsageBy {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageBy::Customer => "customer",
            UsageBy::Image => "image",
            UsageBy::Version => "version",
            UsageBy::Day => "day",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PushTokenCommand {
    /// Issue a push token; plain mode prints only the token on stdout.
    Issue {
        #[arg(long)]
        app: String,
        /// Hosted repository pattern the token is limited to (repeatable); none means all.
        #[arg(long = "repo", value_name = "PATTERN")]
        repos: Vec<String>,
        /// YYYY-MM-DD, RFC 3339, or a duration from now (90d, 12h).
        #[arg(long, default_value = "90d")]
        expires: String,
        /// Also allow deleting manifests, tags and blob links.
        #[arg(long)]
        delete: bool,
    },
    /// List issued push tokens with their status.
    List {
        #[arg(long)]
        app: Option<String>,
    },
    /// Revoke a push token (refused by the edge within its config cache time).
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum HostedCommand {
    /// Give an app a hosted registry: an upstream served from the R2 bucket.
    Enable {
        #[arg(long)]
        app: String,
        /// The name component customers and vendors use for it.
        #[arg(long, default_value = "hosted")]
        alias: String,
        /// Bytes the app may store; pushes past it are refused.
        #[arg(long)]
        quota: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app.
    Add {
        /// Slug used in image paths: [a-z0-9][a-z0-9-]{0,38}.
        slug: String,
        /// Display name [default: the slug].
        #[arg(long)]
        name: Option<String>,
        /// How blobs are served: 307 to the upstream's URL, or streamed through the Worker.
        #[arg(long, value_enum, default_value_t = BlobModeArg::Redirect)]
        blob_mode: BlobModeArg,
    },
    /// List apps.
    List,
    /// Show an app with its upstreams and domains (and, with --registry, its hosted repositories).
    Show {
        slug: String,
        /// The edge's URL: list the hosted repositories and their size through it.
        #[arg(long, value_name = "URL")]
        registry: Option<String>,
    },
    /// Remove an app, its upstreams and its domains.
    Remove { slug: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BlobModeArg {
    Redirect,
    Stream,
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Bind a custom domain to an app, and print the DNS record to create.
    Add {
        /// The host name customers pull from, e.g. images.vendor.com.
        host: String,
        /// App slug.
        #[arg(long)]
        app: String,
        /// The Worker's hostname for the CNAME [env: PULLGATE_CNAME_TARGET; default: the first
        /// public host in wrangler.toml's DEFAULT_HOSTS, then its routes].
        #[arg(long, value_name = "HOST")]
        cname_target: Option<String>,
        /// Local backend only (refused on cloudflare): also accept `localhost` (which real
        /// clients can reach without DNS or a Host header).
        #[arg(long)]
        insecure_dev: bool,
    },
    /// List custom domains.
    List {
        /// Only this app's domains.
        #[arg(long)]
        app: Option<String>,
    },
    /// Unbind a custom domain.
    Remove {
        host: String,
        /// App slug.
        #[arg(long)]
        app: String,
    },
}

// Parsed once per process, so the size of the `Add` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Add an upstream registry to an app, with its credential (secrets from stdin or files).
    Add(UpstreamAddArgs),
    /// List upstreams (secrets masked).
    List {
        /// Only this app's upstreams.
        #[arg(long)]
        app: Option<String>,
    },
    /// Show one upstream (secrets masked).
    Show {
        /// Alias, host or endpoint URL of the upstream.
        upstream: String,
        /// App slug.
        #[arg(long)]
        app: String,
    },
    /// Remove an upstream from an app.
    Remove {
        /// Alias, host or endpoint URL of the upstream.
        upstream: String,
        /// App slug.
        #[arg(long)]
        app: String,
    },
    /// Check that customers can pull an image: the upstream manifest with the stored credential.
    Test {
        /// App slug.
        app: String,
        /// Image as customers name it after the app: <upstream>/<repo>[:tag|@digest].
        image: String,
        /// The edge's URL: a hosted upstream (R2, reachable only from the Worker) is tested through it.
        #[arg(long, value_name = "URL")]
        registry: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct UpstreamAddArgs {
    /// Registry endpoint: https://host[:port] (a bare host means https).
    pub endpoint: String,
    /// App slug.
    #[arg(long)]
    pub app: String,
    /// Short name for image paths instead of the host (required with a port).
    #[arg(long)]
    pub alias: Option<String>,
    /// Repository allow-pattern (repeatable), e.g. acme/* or acme/**; none means any.
    #[arg(long = "repo", value_name = "PATTERN")]
    pub repos: Vec<String>,
    /// Credential type.
    #[arg(long, value_enum, default_value_t = CredentialKind::None)]
    pub credential: CredentialKind,
    /// Username (basic, ghcr, dockerhub).
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password, token or AWS secret key from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the password, token or AWS secret key from FILE ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// gcr: service-account JSON key file ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pub json_key_file: Option<PathBuf>,
    /// gcr: file holding an OAuth2 access token ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pub oauth2_token_file: Option<PathBuf>,
    /// ecr: AWS access key id.
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// ecr: AWS region [default: from the endpoint].
    #[arg(long)]
    pub region: Option<String>,
    /// ecr: GetAuthorizationToken endpoint when not https://api.ecr.<region>.amazonaws.com/ (FIPS, VPC).
    #[arg(long, value_name = "URL")]
    pub ecr_auth_endpoint: Option<String>,
    /// Trust a token realm on HOST (repeatable): for registries whose realm is on another host,
    /// such as a self-hosted GitLab. The endpoint's own host needs no flag.
    #[arg(long = "realm-host", value_name = "HOST")]
    pub realm_hosts: Vec<String>,
    /// Allow http, IP and loopback endpoints: local test registries, local backend only.
    #[arg(long)]
    pub insecure_dev: bool,
    /// Replace an existing upstream with the same endpoint or name (one atomic write).
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create the root secret (unless configured) and the first signing key.
    Init {
        /// Write a new root secret to FILE (mode 600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        root_secret_out: Option<PathBuf>,
    },
    /// Rotate: add a pending key, or (run again later) promote it to active.
    Rotate {
        /// Promote the pending key even if edges may not have seen it yet.
        #[arg(long)]
        force: bool,
    },
    /// List signing keys.
    List,
    /// Remove a retiring (or pending) key.
    Retire {
        kid: String,
        /// Retire even if unexpired, unrevoked licenses were signed by it.
        #[arg(long)]
        force: bool,
    },
    /// Start a root-secret rotation: write a new root secret to FILE and print the steps.
    NewRootSecret {
        /// Where to write it (mode 600; never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Reseal the signing keys, every upstream credential and every sealed license text with a
    /// new root secret.
    Reseal {
        /// The new root secret (hex, or a PULLGATE_ROOT_SECRET=<hex> line).
        #[arg(long, value_name = "FILE")]
        new_root_secret_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Issue a license; plain mode prints only the license on stdout.
    Issue {
        /// App slug.
        #[arg(long)]
        app: String,
        /// Customer name shown in messages and logs.
        #[arg(long)]
        customer: String,
        /// YYYY-MM-DD (00:00 UTC), RFC 3339, or a duration from now: a whole number and one of
        /// s, min, h, d, w, y (e.g. 90d, 12h, 30min; a bare m is refused as ambiguous).
        #[arg(long)]
        expires: String,
        /// Upstream repository pattern the license is limited to (repeatable); none means all.
        #[arg(long = "image", value_name = "PATTERN")]
        images: Vec<String>,
    },
    /// List issued licenses with their status.
    List {
        /// Only this app's licenses.
        #[arg(long)]
        app: Option<String>,
        /// Only this customer's licenses (exact name).
        #[arg(long)]
        customer: Option<String>,
        /// Only licenses still valid that expire within this duration (e.g. 30d).
        #[arg(long, value_name = "DURATION")]
        expiring: Option<String>,
    },
    /// Show one issued license's record and status.
    Show {
        id: String,
        /// Print the license text itself again (needs the root secret).
        #[arg(long)]
        reveal: bool,
    },
    /// Issue the successor of a license: same customer, app and entitlements, a new expiry.
    Renew {
        id: String,
        /// The successor's expiry, in the forms `license issue --expires` takes.
        #[arg(long)]
        expires: String,
        /// Revoke the old license once this grace period has passed (e.g. 7d).
        #[arg(long, value_name = "DURATION")]
        revoke_old_after: Option<String>,
    },
    /// A registry credential for the customer's cluster: a k8s Secret, a dockerconfigjson, or
    /// Helm values, for every host the app serves.
    PullSecret(PullSecretArgs),
    /// Revoke a license (the edge refuses it within its config cache time).
    Revoke {
        id: String,
        /// Why, kept in the revocation record.
        #[arg(long)]
        reason: Option<String>,
        /// Revoke an id that has no license record.
        #[arg(long)]
        force: bool,
    },
    /// Verify a license offline and show its claims and status.
    Inspect {
        /// The license, @FILE, or - for stdin (files keep it out of shell history).
        license: String,
    },
}

/// Output shapes of `license pull-secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullSecretFormat {
    /// A `kubernetes.io/dockerconfigjson` Secret manifest (YAML).
    K8s,
    /// The `{"auths":{…}}` document, for podman/skopeo `--authfile`.
    Dockerconfigjson,
    /// Helm values carrying the base64 document (`global.pullgate.dockerconfigjson`).
    HelmValues,
}

#[derive(Debug, Args)]
pub struct PullSecretArgs {
    /// License id.
    pub id: String,
    /// Only this registry host[:port] (repeatable; default: every host the app serves).
    #[arg(long = "registry", value_name = "HOST")]
    pub registries: Vec<String>,
    #[arg(long, value_enum, default_value_t = PullSecretFormat::K8s)]
    pub format: PullSecretFormat,
    /// k8s: the Secret's name (default pullgate-<app>).
    #[arg(long)]
    pub name: Option<String>,
    /// k8s: the Secret's namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// helm-values: also put the document under this dotted key (e.g. myapp.imagePullSecret).
    #[arg(long, value_name = "KEY")]
    pub values_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Point every image the app's upstreams serve at its name through the edge (tags and
    /// digests kept), in the files or as a kustomize `images:` patch; others are listed.
    Rewrite(ImagesRewriteArgs),
    /// Check that every image found pulls: `upstream test` on each (or `pull-check` through the
    /// edge with a license), in parallel; a table, and a non-zero exit if any fails.
    Test(ImagesTestArgs),
}

#[derive(Debug, Args)]
pub struct ImagesTestArgs {
    /// App slug.
    #[arg(long)]
    pub app: String,
    /// Pull each image through the edge as a customer (pull-check) instead of testing the upstream.
    #[arg(long, requires = "license")]
    pub through_edge: bool,
    /// --through-edge: the customer's license, @FILE, or - for stdin.
    #[arg(long)]
    pub license: Option<String>,
    /// --through-edge: the edge's host[:port], as `images rewrite --domain` [default: the same].
    #[arg(long, value_name = "HOST")]
    pub domain: Option<String>,
    /// Images tested at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub jobs: u16,
    /// Image lists (one reference a line, # comments; - for stdin), YAML files, or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Output shapes of `images rewrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RewriteFormat {
    /// The input files, rewritten (comments, order and quoting kept).
    Files,
    /// A kustomize `images:` list: the inputs' kustomization extended, or a new one.
    Kustomize,
}

#[derive(Debug, Args)]
pub struct ImagesRewriteArgs {
    /// App slug.
    #[arg(long)]
    pub app: String,
    /// Host[:port] customers pull from: one of the app's custom domains (short names) or the
    /// Worker's host (proxy/<app>/ names) [default: the first public custom domain].
    #[arg(long, value_name = "HOST")]
    pub domain: Option<String>,
    #[arg(long, value_enum, default_value_t = RewriteFormat::Files)]
    pub format: RewriteFormat,
    /// Write the results under DIR, at the inputs' relative paths [default: stdout, one file].
    #[arg(long, value_name = "DIR", conflicts_with = "in_place")]
    pub out: Option<PathBuf>,
    /// Overwrite the input files that change.
    #[arg(long)]
    pub in_place: bool,
    /// Probe each image anonymously and rewrite only those the upstream refuses (401/403).
    #[arg(long)]
    pub detect_private: bool,
    /// Files, or directories searched for *.yaml and *.yml.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PullCheckArgs {
    /// Image reference through the edge: host[:port]/path[:tag|@digest].
    pub image: String,
    /// The customer's license, @FILE, or - for stdin.
    #[arg(long)]
    pub license: String,
    /// Username sent with the license (the edge ignores it).
    #[arg(long, default_value = "license")]
    pub username: String,
    /// Use http instead of https (automatic for loopback hosts).
    #[arg(long)]
    pub plain_http: bool,
    /// Connect to ADDR:PORT for the image's host (a custom domain before its DNS exists).
    #[arg(long, value_name = "ADDR:PORT")]
    pub connect_to: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[arg(long)]
    pub app: String,
    /// The edge's URL (gc runs through its admin channel: R2 is reachable only from the Worker).
    #[arg(long, value_name = "URL")]
    pub registry: String,
    /// Report what would be collected; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Never collect anything written more recently than this (a push may still be running).
    #[arg(long, default_value = "24h")]
    pub min_age: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// An OCI layout directory or a skopeo dir: copy.
    pub source: String,
    /// host[:port]/path:tag (or path:tag with --registry), e.g. images.vendor.com/hosted/app:1.0.
    pub target: String,
    /// The registry's URL (http(s)://host[:port]) when the target has no host.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Read the push token from stdin (otherwise from PULLGATE_PUSH_TOKEN).
    #[arg(long)]
    pub token_stdin: bool,
    /// Bytes per PATCH (default 8 MiB, at least the registry's OCI-Chunk-Min-Length).
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,
    /// Use http instead of https (automatic for loopback hosts).
    #[arg(long)]
    pub plain_http: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The synopsis block of docs/cli.md, split per noun (`pullgate <noun> …` and the lines
    /// under it) plus the global options.
    fn synopsis_by_noun() -> BTreeMap<String, String> {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
        let block = docs.split("```text\npullgate ").nth(1).unwrap().split("```").next().unwrap();
        let mut nouns = BTreeMap::new();
        let mut current = String::new();
        for (i, line) in block.lines().enumerate() {
            let line = if i == 0 { format!("pullgate {line}") } else { line.to_string() };
            if let Some(rest) = line.strip_prefix("pullgate ") {
                current = rest.split_whitespace().next().unwrap().to_string();
            } else if line.starts_with("global options:") {
                current = "global".to_string();
            }
            nouns.entry(current.clone()).or_insert_with(String::new).push_str(&format!("{line}\n"));
        }
        nouns
    }

    /// Whether `text` has `word` standing alone (not as part of a longer flag or name).
    fn mentions(text: &str, word: &str) -> bool {
        text.match_indices(word).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            let is_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            !is_name(before) && !is_name(after)
        })
    }

    /// Long flags and value-enum values of a command's own arguments.
    fn words_of(command: &clap::Command) -> Vec<String> {
        let mut words = Vec::new();
        for arg in command.get_arguments().filter(|a| !a.is_global_set() && a.get_id() != "help") {
            if let Some(long) = arg.get_long() {
                words.push(format!("--{long}"));
                if arg.get_action().takes_values() {
                    words.extend(arg.get_possible_values().iter().map(|v| v.get_name().to_string()));
                }
            }
        }
        words
    }

    #[test]
    fn the_docs_synopsis_lists_every_command_and_flag() {
        let synopsis = synopsis_by_noun();
        let cli = Cli::command();
        let mut missing = Vec::new();
        for noun in cli.get_subcommands() {
            let name = noun.get_name();
            let Some(text) = synopsis.get(name) else {
                missing.push(format!("pullgate {name}"));
                continue;
            };
            let verbs: Vec<&clap::Command> = noun.get_subcommands().collect();
            let leaves = if verbs.is_empty() { vec![noun] } else { verbs };
            for leaf in leaves {
                if leaf.get_name() != name && !mentions(text, leaf.get_name()) {
                    missing.push(format!("pullgate {name} {}", leaf.get_name()));
                }
                for word in words_of(leaf) {
                    if !mentions(text, &word) {
                        missing.push(format!("pullgate {name} {} {word}", leaf.get_name()));
                    }
                }
            }
        }
        let global = synopsis.get("global").cloned().unwrap_or_default();
        for arg in cli.get_arguments().filter(|a| a.is_global_set()) {
            let flag = format!("--{}", arg.get_long().unwrap());
            if !mentions(&global, &flag) {
                missing.push(format!("global {flag}"));
            }
        }
        assert!(missing.is_empty(), "docs/cli.md's synopsis lacks: {missing:#?}");
    }

    /// Shell words of a documented command line, up to the first pipe, redirection or comment.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        let mut in_word = false;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, c) if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        let end = words
            .iter()
            .position(|w| ["|", ">", "<", ";", "&&", "#", "2>&1"].contains(&w.as_str()) || w.starts_with("<<<"))
            .unwrap_or(words.len());
        words.truncate(end);
        words
    }

    /// Every `pullgate …` invocation written in README.md and docs/cli.md: inline code, shell
    /// blocks (also after a pipe or inside `$(…)`), and README's upstream table, whose cells
    /// continue `pullgate upstream add`.
    fn documented_command_lines() -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for doc in ["README.md", "docs/cli.md"] {
            let text = std::fs::read_to_string(format!("{}/{doc}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let mut in_shell = false;
            for line in text.lines() {
                if line.starts_with("```") {
                    in_shell = line == "```sh";
                    continue;
                }
                let mut found = Vec::new();
                if in_shell {
                    if line.trim_start().starts_with('#') {
                        continue;
                    }
                    if let Some(at) = line.find("pullgate ") {
                        let command = &line[at..];
                        found.push(match line[..at].ends_with("$(") {
                            true => command.rsplit_once(')').map_or(command, |(c, _)| c).to_string(),
                            false => command.to_string(),
                        });
                    }
                } else {
                    for (n, span) in line.split('`').enumerate() {
                        if n % 2 == 1 && span.starts_with("pullgate ") && !span.contains("<noun>") {
                            found.push(span.to_string());
                        }
                        if n % 2 == 1 && line.starts_with('|') && span.starts_with("--app ") {
                            found.push(format!("pullgate upstream add {span}"));
                        }
                    }
                }
                lines.extend(found.into_iter().map(|command| (doc.to_string(), command)));
            }
        }
        lines
    }

    #[test]
    fn every_documented_command_line_parses() {
        let lines = documented_command_lines();
        assert!(lines.len() > 30, "too few command lines found: {lines:?}");
        let mut refused = Vec::new();
        for (doc, line) in lines {
            let words = shell_words(&line);
            if let Err(e) = Cli::try_parse_from(&words) {
                // `pullgate domain add` in prose names a command; it is not an invocation.
                let a_reference = words.len() < 4 && e.kind() == clap::error::ErrorKind::MissingRequiredArgument;
                if !a_reference {
                    refused.push(format!("{doc}: {line}\n  {}", e.to_string().lines().next().unwrap_or_default()));
                }
            }
        }
        assert!(refused.is_empty(), "documented commands that pullgate refuses:\n{}", refused.join("\n"));
    }
}
