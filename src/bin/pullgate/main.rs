//! `pullgate`: the vendor's admin CLI; manages everything the edge reads from KV (apps, domains,
//! upstreams and their sealed credentials, signing keys, licenses, revocations) and checks pulls.
//!
//! Commands are `pullgate <noun> <verb>`; `--json` gives one stable JSON document on stdout;
//! exit codes are listed in `pullgate --help` and docs/cli.md.

mod cli;
mod commands;
mod events_db;
mod failure;
mod images;
mod kv;
mod output;
mod secrets;
mod settings;
mod validate;

use clap::Parser;

use crate::cli::Cli;
use crate::commands::Ctx;
use crate::failure::Failure;
use crate::kv::BackendOptions;
use crate::output::Output;

fn main() {
    let cli = Cli::parse();
    let out = Output { json: cli.global.json };
    let backend = BackendOptions {
        backend: cli.global.backend.map(|b| b.as_str().to_string()),
        state_dir: cli.global.state_dir.clone(),
        wrangler_config: cli.global.wrangler_config.clone(),
        account_id: cli.global.account_id.clone(),
        namespace_id: cli.global.namespace_id.clone(),
        api_token_file: cli.global.api_token_file.clone(),
    };
    let ctx = Ctx::new(out, unix_now(), backend);
    if let Err(failure) = commands::run(&ctx, cli.command) {
        report(&failure, out);
        std::process::exit(failure.exit.code());
    }
}

/// Errors go to stderr for people; with `--json` an `{"error": …}` document also goes to stdout.
fn report(failure: &Failure, out: Output) {
    eprintln!("error: {failure}");
    if out.json && !failure.reported {
        let doc = serde_json::json!({
            "error": {
                "kind": failure.exit.as_str(),
                "exit_code": failure.exit.code(),
                "message": failure.message,
                "hint": failure.hint,
            }
        });
        println!("{doc:#}");
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
