//! The local KV that `wrangler dev --persist-to DIR` reads, written through wrangler's own
//! `kv … --local --persist-to` commands: Miniflare's storage format is internal to it, so the
//! CLI never touches those files itself.
//!
//! Every wrangler run costs 1–3 s, so each trait call is exactly one run: values travel in
//! JSON files (`kv bulk get|put|delete`), never in argv.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pullgate::store::KV_BINDING;
use serde::Deserialize;

use super::{Kv, Sleeper};
use crate::failure::{Failure, Outcome};
use crate::settings::{env, WranglerConfig, ENV_WRANGLER};

/// Keys per `kv bulk get`. The local store has no 100-key limit like the remote API (1,500 keys
/// took one 6 s run here); chunking only bounds the size of one wrangler answer.
const BULK_GET_CHUNK: usize = 1000;
/// Pairs per `kv bulk put|delete` (Cloudflare's limit is 10,000).
const BULK_WRITE_CHUNK: usize = 10_000;
/// Runs of one command before a transient local-runtime failure is reported.
const LOCAL_ATTEMPTS: u32 = 4;

pub struct LocalKv {
    /// The wrangler command, possibly several words (`npx wrangler`).
    program: Vec<String>,
    config: PathBuf,
    state: PathBuf,
    /// Put first on PATH: the project's pinned Node 22 lives next to its wrangler.
    tool_dir: Option<PathBuf>,
    sleep: Sleeper,
}

impl LocalKv {
    pub fn new(state: &Path, config: &WranglerConfig) -> Outcome<Self> {
        let config_path =
            std::path::absolute(&config.path).map_err(|e| Failure::usage(format!("{}: {e}", config.path.display())))?;
        let config_dir = config_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let bin_dir = config_dir.join("node_modules/.bin");
        let program: Vec<String> = match env(ENV_WRANGLER) {
            Some(cmd) => cmd.split_whitespace().map(String::from).collect(),
            None if bin_dir.join("wrangler").is_file() => vec![bin_dir.join("wrangler").display().to_string()],
            None => vec!["wrangler".to_string()],
        };
        // Wrangler's own directory first (an override may point at another checkout), then ours.
        let own_dir = Path::new(&program[0]).parent().map(Path::to_path_buf);
        let tool_dir = own_dir.into_iter().chain([bin_dir]).find(|d| d.join("node").is_file());
        if !state.is_dir() {
            // Creating the store is fine, inventing a whole path from a typo is not.
            let parent_exists = state.parent().is_none_or(|p| p.as_os_str().is_empty() || p.is_dir());
            if !parent_exists {
                return Err(Failure::usage(format!(
                    "local state dir {} does not exist, nor does its parent",
                    state.display()
                ))
                .hint(
                    "point --state-dir at the directory `wrangler dev --persist-to` uses (scripts/dev: .pullgate/kv)",
                ));
            }
            std::fs::create_dir_all(state)
                .map_err(|e| Failure::failed(format!("cannot create {}: {e}", state.display())))?;
        }
        let state = std::path::absolute(state).map_err(|e| Failure::usage(format!("{}: {e}", state.display())))?;
        Ok(LocalKv { program, config: config_path, state, tool_dir, sleep: super::real_sleeper() })
    }

    /// Runs `wrangler kv <args> …`, again after a pause when the local runtime dropped the call
    /// (workerd answers "Network connection lost" when the store is busy under load). Every call
    /// is idempotent (list, bulk get, bulk put of whole values, bulk delete), so a repeat cannot
    /// change the result, only rescue it.
    fn wrangler(&self, args: &[&str]) -> Outcome<String> {
        let mut words = vec!["kv"];
        words.extend_from_slice(args);
        words.extend_from_slice(&["--binding", KV_BINDING]);
        self.retrying(&format!("kv {}", args[..2].join(" ")), &words)
    }

    /// `wrangler d1 execute <database> --local --json --command <sql>` on the D1 store in the
    /// same persist dir (the events database `wrangler dev` writes), retried like the KV
    /// commands: every statement the CLI runs there is a read or an idempotent delete.
    pub fn d1_execute(&self, database: &str, sql: &str) -> Outcome<String> {
        self.retrying("d1 execute", &["d1", "execute", database, "--json", "--command", sql])
    }

    /// Runs `wrangler <words>`, again after a pause on a transient local-runtime failure.
    fn retrying(&self, what: &str, words: &[&str]) -> Outcome<String> {
        let mut attempt = 1;
        loop {
            match self.run(words)? {
                Ok(stdout) => return Ok(stdout),
                Err(detail) if is_transient(&detail) && attempt < LOCAL_ATTEMPTS => {
                    eprintln!("warning: wrangler {what} failed ({detail}); retrying");
                    (self.sleep)(retry_wait(attempt));
                    attempt += 1;
                }
                Err(detail) => return Err(Failure::failed(format!("wrangler {what} failed: {detail}"))),
            }
        }
    }

    /// One `wrangler <words> --local --persist-to … -c …` run: stdout, or wrangler's own error
    /// text when it ran and failed.
    fn run(&self, words: &[&str]) -> Outcome<Result<String, String>> {
        let mut command = Command::new(&self.program[0]);
        command
            .args(&self.program[1..])
            .args(words)
            .arg("--local")
            .arg("--persist-to")
            .arg(&self.state)
            .arg("-c")
            .arg(&self.config)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Some(dir) = &self.tool_dir {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let joined = std::env::join_paths(std::iter::once(dir.clone()).chain(std::env::split_paths(&path)))
                .map_err(|e| Failure::failed(format!("PATH: {e}")))?;
            command.env("PATH", joined);
        }
        let output = command.output().map_err(|e| {
            Failure::failed(format!("cannot run wrangler ({}): {e}", self.program.join(" "))).hint(format!(
                "install the project's tooling (scripts/setup, or npm ci) or set {ENV_WRANGLER} to the wrangler command"
            ))
        })?;
        if !output.status.success() {
            return Ok(Err(wrangler_error(
                &String::from_utf8_lossy(&output.stderr),
                &String::from_utf8_lossy(&output.stdout),
            )));
        }
        Ok(Ok(String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    /// Runs a bulk command on a JSON file in a private temporary directory.
    fn with_json_file<T>(&self, json: &str, run: impl FnOnce(&str) -> Outcome<T>) -> Outcome<T> {
        let dir = PrivateTempDir::create()?;
        let file = dir.path.join("bulk.json");
        crate::secrets::write_private_file(&file, json)?;
        run(&file.display().to_string())
    }
}

impl Kv for LocalKv {
    fn list(&self, prefix: &str) -> Outcome<Vec<String>> {
        #[derive(Deserialize)]
        struct Entry {
            name: String,
        }
        let stdout = if prefix.is_empty() {
            self.wrangler(&["key", "list"])?
        } else {
            self.wrangler(&["key", "list", "--prefix", prefix])?
        };
        let entries: Vec<Entry> = parse_json_after(&stdout, '[')?;
        let mut names: Vec<String> = entries.into_iter().map(|e| e.name).collect();
        names.sort();
        Ok(names)
    }

    fn get_many(&self, keys: &[String]) -> Outcome<Vec<Option<String>>> {
        #[derive(Deserialize)]
        struct Found {
            value: Option<String>,
        }
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BULK_GET_CHUNK) {
            let json = super::encode(&chunk)?;
            let stdout = self.with_json_file(&json, |file| self.wrangler(&["bulk", "get", file]))?;
            let found: std::collections::HashMap<String, Found> = parse_json_after(&stdout, '{')?;
            values.extend(chunk.iter().map(|k| found.get(k).and_then(|f| f.value.clone())));
        }
        Ok(values)
    }

    fn put_many(&self, entries: &[(String, String)]) -> Outcome<()> {
        #[derive(serde::Serialize)]
        struct Pair<'a> {
            key: &'a str,
            value: &'a str,
        }
        for chunk in entries.chunks(BULK_WRITE_CHUNK) {
            let pairs: Vec<Pair<'_>> = chunk.iter().map(|(key, value)| Pair { key, value }).collect();
            let json = super::encode(&pairs)?;
            self.with_json_file(&json, |file| self.wrangler(&["bulk", "put", file]))?;
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[String]) -> Outcome<()> {
        for chunk in keys.chunks(BULK_WRITE_CHUNK) {
            let json = super::encode(&chunk)?;
            self.with_json_file(&json, |file| self.wrangler(&["bulk", "delete", file, "--force"]))?;
        }
        Ok(())
    }
}

/// 1 s, 2 s, 4 s: the local runtime needs a moment to let go of its store.
fn retry_wait(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(500 << attempt.min(6))
}

/// Parses the JSON document on the first stdout line that starts with `open` (wrangler may
/// print a banner before it and notices after it).
pub fn parse_json_after<T: serde::de::DeserializeOwned>(stdout: &str, open: char) -> Outcome<T> {
    let mut offset = 0;
    let mut start = None;
    for line in stdout.split_inclusive('\n') {
        if line.trim_start().starts_with(open) {
            start = Some(offset);
            break;
        }
        offset += line.len();
    }
    let unexpected = |why: String| {
        Failure::failed(format!(
            "unexpected output from wrangler ({why}): {}",
            stdout.chars().take(200).collect::<String>()
        ))
    };
    let start = start.ok_or_else(|| unexpected("no JSON".into()))?;
    let mut values = serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<T>();
    match values.next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(unexpected(e.to_string())),
        None => Err(unexpected("no JSON".into())),
    }
}

/// Failures of the local runtime itself rather than of the request: workerd dropping the call
/// into its KV simulator, or SQLite refusing a second writer for a moment.
fn is_transient(detail: &str) -> bool {
    const TRANSIENT: [&str; 4] = ["Network connection lost", "SQLITE_BUSY", "database is locked", "ECONNRESET"];
    TRANSIENT.iter().any(|marker| detail.contains(marker))
}

/// The useful part of a wrangler failure: its `[ERROR]` lines without colour codes.
fn wrangler_error(stderr: &str, stdout: &str) -> String {
    let clean = strip_ansi(&format!("{stderr}\n{stdout}"));
    let errors: Vec<&str> = clean
        .lines()
        .filter_map(|l| l.split_once("[ERROR]").map(|(_, rest)| rest.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    let last = clean.lines().map(str::trim).rfind(|l| !l.is_empty());
    last.unwrap_or("no output").to_string()
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A mode-700 directory under the system temp dir, removed on drop.
struct PrivateTempDir {
    path: PathBuf,
}

impl PrivateTempDir {
    fn create() -> Outcome<Self> {
        let name = format!("pullgate-{}-{}", std::process::id(), crate::secrets::random_hex::<8>()?);
        let path = std::env::temp_dir().join(name);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&path)
            .map_err(|e| Failure::failed(format!("cannot create a temporary directory {}: {e}", path.display())))?;
        Ok(PrivateTempDir { path })
    }
}

impl Drop for PrivateTempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A stand-in wrangler that fails its first `fail_runs` runs with `message`, then lists no
    /// keys, counting its runs in `<dir>/runs`; and a LocalKv that runs it with a recording sleeper.
    fn flaky_wrangler(
        dir: &Path,
        fail_runs: u32,
        message: &str,
    ) -> (LocalKv, PathBuf, std::rc::Rc<std::cell::RefCell<Vec<Duration>>>) {
        use std::os::unix::fs::PermissionsExt;
        let runs = dir.join("runs");
        let script = dir.join("flaky-wrangler");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nn=$(($(cat '{runs}' 2>/dev/null || echo 0) + 1))\necho $n > '{runs}'\n\
                 if [ $n -le {fail_runs} ]; then echo '✘ [ERROR] {message}' >&2; exit 1; fi\necho '[]'\n",
                runs = runs.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (sleep, waits) = super::super::recording_sleeper();
        let kv = LocalKv {
            program: vec![script.display().to_string()],
            config: dir.join("wrangler.toml"),
            state: dir.join("kv"),
            tool_dir: None,
            sleep,
        };
        (kv, runs, waits)
    }

    fn runs(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap().trim().to_string()
    }

    #[test]
    fn a_dropped_runtime_call_is_retried_after_a_growing_pause() {
        let tmp = crate::commands::test_support::temp_dir();
        let (kv, count, waits) = flaky_wrangler(tmp.path(), 2, "Network connection lost.");
        assert_eq!(kv.list("").unwrap(), Vec::<String>::new());
        assert_eq!(runs(&count), "3");
        assert_eq!(*waits.borrow(), [Duration::from_secs(1), Duration::from_secs(2)]);
    }

    #[test]
    fn retries_of_a_dropped_call_are_bounded() {
        let tmp = crate::commands::test_support::temp_dir();
        let (kv, count, waits) = flaky_wrangler(tmp.path(), 100, "Network connection lost.");
        let err = kv.list("").unwrap_err();
        assert!(err.message.contains("wrangler kv key list failed: Network connection lost."), "{err}");
        assert_eq!(runs(&count), LOCAL_ATTEMPTS.to_string());
        assert_eq!(*waits.borrow(), [1, 2, 4].map(Duration::from_secs));
    }

    #[test]
    fn a_real_wrangler_error_is_reported_at_once() {
        let tmp = crate::commands::test_support::temp_dir();
        let (kv, count, waits) = flaky_wrangler(tmp.path(), 100, "Could not read file: /x.json");
        let err = kv.list("").unwrap_err();
        assert!(err.message.contains("Could not read file"), "{err}");
        assert_eq!(runs(&count), "1");
        assert!(waits.borrow().is_empty());
    }

    #[test]
    fn wrangler_errors_are_extracted_without_colours() {
        let stderr = "\u{1b}[33m▲ \u{1b}[43;33m[\u{1b}[43;30mWARNING\u{1b}[43;33m]\u{1b}[0m beta\n\n\u{1b}[31m✘ \u{1b}[41;31m[\u{1b}[41;97mERROR\u{1b}[41;31m]\u{1b}[0m \u{1b}[1mCould not read file: /x.json\u{1b}[0m\n";
        assert_eq!(wrangler_error(stderr, ""), "Could not read file: /x.json");
        assert_eq!(wrangler_error("", "something odd\n\n"), "something odd");
    }

    #[test]
    fn only_runtime_hiccups_are_retried() {
        let cases = [
            ("Network connection lost.", true),
            ("internal error; reference = 1: SQLITE_BUSY: database is locked", true),
            ("read ECONNRESET", true),
            ("Could not read file: /x.json", false),
            ("Unexpected JSON input from \"bulk.json\"", false),
            ("no output", false),
        ];
        for (detail, transient) in cases {
            assert_eq!(is_transient(detail), transient, "{detail}");
        }
    }

    #[test]
    fn json_is_found_after_a_banner() {
        let out = "\n ⛅️ wrangler 4\nResource location: local\n[{\"name\":\"a\"}]\n";
        let v: Vec<serde_json::Value> = parse_json_after(out, '[').unwrap();
        assert_eq!(v[0]["name"], "a");
        assert!(parse_json_after::<Vec<serde_json::Value>>("nothing", '[').is_err());
    }
}
