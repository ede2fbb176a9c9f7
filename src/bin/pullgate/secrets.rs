//! Secret input and key material: the root secret from the environment, passwords from stdin
//! or files (never argv), private output files, and randomness from the OS.

use std::io::{IsTerminal, Read};
use std::path::Path;

use pullgate::keys::{RootSecret, ROOT_SECRET_NAME};

use crate::failure::{Failure, Outcome};
use crate::settings::{env, ENV_ROOT_SECRET_FILE};

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Outcome<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Failure::failed(format!("the operating system's random source failed: {e}")))?;
    Ok(bytes)
}

/// Lowercase hex of `N` random bytes.
pub fn random_hex<const N: usize>() -> Outcome<String> {
    Ok(pullgate::keys::hex_encode(&random_bytes::<N>()?))
}

/// Where the root secret came from, for messages.
#[derive(Debug, Clone)]
pub struct ConfiguredRoot {
    pub secret: RootSecret,
    pub source: String,
}

/// The root secret from `PULLGATE_ROOT_SECRET`, else `PULLGATE_ROOT_SECRET_FILE`; `None` when
/// neither is set. The file holds the hex alone, or a dotenv line `PULLGATE_ROOT_SECRET=<hex>`
/// (so `.dev.vars` works as is).
pub fn configured_root() -> Outcome<Option<ConfiguredRoot>> {
    if let Some(hex) = env(ROOT_SECRET_NAME) {
        let secret = RootSecret::parse(&hex).map_err(|e| Failure::usage(format!("{ROOT_SECRET_NAME}: {e}")))?;
        return Ok(Some(ConfiguredRoot { secret, source: ROOT_SECRET_NAME.to_string() }));
    }
    let Some(path) = env(ENV_ROOT_SECRET_FILE) else { return Ok(None) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::usage(format!("{ENV_ROOT_SECRET_FILE}={path}: cannot read it: {e}")))?;
    let hex = root_secret_from_file_text(&text)
        .ok_or_else(|| Failure::usage(format!("{ENV_ROOT_SECRET_FILE}={path}: no root secret in it")))?;
    let secret = RootSecret::parse(&hex).map_err(|e| Failure::usage(format!("{ENV_ROOT_SECRET_FILE}={path}: {e}")))?;
    Ok(Some(ConfiguredRoot { secret, source: format!("{ENV_ROOT_SECRET_FILE} ({path})") }))
}

/// A root secret from a file (bare hex, or a `PULLGATE_ROOT_SECRET=<hex>` line).
pub fn read_root_secret_file(path: &Path) -> Outcome<RootSecret> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{}: cannot read it: {e}", path.display())))?;
    let hex = root_secret_from_file_text(&text)
        .ok_or_else(|| Failure::usage(format!("{}: no root secret in it", path.display())))?;
    RootSecret::parse(&hex).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn root_secret_from_file_text(text: &str) -> Option<String> {
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let line = line.strip_prefix("export ").unwrap_or(line);
        match line.split_once('=') {
            Some((name, value)) if name.trim() == ROOT_SECRET_NAME => {
                return Some(value.trim().trim_matches(['"', '\'']).to_string())
            }
            Some(_) => continue,
            None => return Some(line.to_string()),
        }
    }
    None
}

/// The root secret, or a failure that says how to provide it.
pub fn require_root() -> Outcome<ConfiguredRoot> {
    configured_root()?.ok_or_else(|| {
        Failure::usage("no root secret configured").hint(format!(
            "set {ROOT_SECRET_NAME} (64 hex characters, the value given to `wrangler secret put {ROOT_SECRET_NAME}`) or {ENV_ROOT_SECRET_FILE}; `pullgate key init` creates one"
        ))
    })
}

/// Reads one secret value from stdin (`from_stdin`) or a file (`-` also means stdin), dropping
/// one trailing newline. `what` names it in messages, `flags` says how to give it.
pub fn read_secret(from_stdin: bool, file: Option<&Path>, what: &str, flags: &str) -> Outcome<String> {
    let raw = match (from_stdin, file) {
        (true, Some(_)) => {
            return Err(Failure::usage(format!("give the {what} either on stdin or in a file, not both")))
        }
        (true, None) => read_stdin(what)?,
        (false, Some(path)) if path == Path::new("-") => read_stdin(what)?,
        (false, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read the {what} from {}: {e}", path.display())))?,
        (false, None) => {
            return Err(Failure::usage(format!("a {what} is required")).hint(format!(
                "pass it with {flags} (never on the command line, where shell history and ps would see it)"
            )))
        }
    };
    let value = raw.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&raw);
    if value.trim().is_empty() {
        return Err(Failure::usage(format!("the {what} is empty")));
    }
    Ok(value.to_string())
}

fn read_stdin(what: &str) -> Outcome<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("reading the {what} from stdin (end with Ctrl-D)");
    }
    let mut text = String::new();
    stdin.read_to_string(&mut text).map_err(|e| Failure::usage(format!("cannot read the {what} from stdin: {e}")))?;
    Ok(text)
}

/// Reads a whole file, or stdin for `-`, as text (for JSON keys and tokens).
pub fn read_text_file(path: &Path, what: &str) -> Outcome<String> {
    read_secret(false, Some(path), what, "")
}

/// Creates `path` with mode 600 and writes `content`; refuses to overwrite an existing file.
pub fn write_private_file(path: &Path, content: &str) -> Outcome<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(format!("{} already exists; choose a new file (it is never overwritten)", path.display()))
        } else {
            Failure::failed(format!("cannot create {}: {e}", path.display()))
        }
    })?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_secret_files_may_be_bare_hex_or_dotenv() {
        let hex = "ab".repeat(32);
        for text in [
            hex.clone(),
            format!("{hex}\n"),
            format!("PULLGATE_ROOT_SECRET={hex}\n"),
            format!("# dev vars\nOTHER=1\nexport PULLGATE_ROOT_SECRET=\"{hex}\"\n"),
        ] {
            assert_eq!(root_secret_from_file_text(&text).as_deref(), Some(hex.as_str()), "{text:?}");
        }
        assert_eq!(root_secret_from_file_text("OTHER=1\n"), None);
        assert_eq!(root_secret_from_file_text(""), None);
    }

    #[test]
    fn private_files_are_mode_600_and_never_overwritten() {
        let tmp = crate::commands::test_support::temp_dir();
        let path = tmp.path().join("secret");
        write_private_file(&path, "x").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(write_private_file(&path, "y").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
    }

    #[test]
    fn secret_files_lose_one_trailing_newline() {
        let tmp = crate::commands::test_support::temp_dir();
        let path = tmp.path().join("pw");
        std::fs::write(&path, "s3cret \r\n").unwrap();
        assert_eq!(read_secret(false, Some(&path), "password", "").unwrap(), "s3cret ");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret(false, Some(&path), "password", "").is_err());
        assert!(read_secret(false, None, "password", "--password-stdin").is_err());
    }
}
