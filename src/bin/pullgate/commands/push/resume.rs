//! Where `pullgate push` remembers an open chunked upload, so a re-run after an interruption
//! continues it instead of starting over: one small JSON file per (registry, repository, blob)
//! under `$XDG_STATE_HOME/pullgate/uploads/` (default `~/.local/state`), removed once the blob
//! is in. The upload URL is not a secret (every request on it needs the push token).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// An upload session the registry may still have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The session URL (absolute).
    pub location: String,
    /// The chunk size it was started with; a resumed upload must keep it.
    pub chunk: u64,
}

/// The state file of one blob's upload to one repository.
pub struct Slot {
    path: Option<PathBuf>,
}

fn state_root() -> Option<PathBuf> {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    from_env("XDG_STATE_HOME").or_else(|| from_env("HOME").map(|h| h.join(".local/state")))
}

impl Slot {
    pub fn new(registry: &str, name: &str, digest: &str) -> Slot {
        let key = Sha256::digest(format!("{registry}\n{name}\n{digest}").as_bytes());
        let file = format!("{}.json", pullgate::keys::hex_encode(key.get(..16).unwrap_or_default()));
        Slot { path: state_root().map(|r| r.join("pullgate/uploads").join(file)) }
    }

    #[cfg(test)]
    fn at(path: PathBuf) -> Slot {
        Slot { path: Some(path) }
    }

    /// The remembered session, if any (an unreadable file counts as none).
    pub fn load(&self) -> Option<Pending> {
        let bytes = std::fs::read(self.path.as_ref()?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Remembers the session. Best effort: without a state directory a push still works, it
    /// just cannot resume.
    pub fn save(&self, pending: &Pending) -> Result<(), String> {
        let Some(path) = &self.path else { return Ok(()) };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(pending).unwrap_or_default())?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| format!("writing the upload state {}: {e}", path.display()))
    }

    pub fn clear(&self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_loads_until_cleared() {
        let dir = crate::commands::test_support::temp_dir();
        let slot = Slot::at(dir.path().join("a/b/x.json"));
        assert_eq!(slot.load(), None);
        let pending = Pending { location: "http://e/v2/n/blobs/uploads/1".into(), chunk: 8 };
        slot.save(&pending).unwrap();
        assert_eq!(slot.load(), Some(pending));
        std::fs::write(dir.path().join("a/b/x.json"), "{not json").unwrap();
        assert_eq!(slot.load(), None);
        slot.clear();
        assert_eq!(slot.load(), None);
    }

    #[test]
    fn slots_differ_per_registry_repository_and_blob() {
        let paths = [("r", "n", "d"), ("r2", "n", "d"), ("r", "n2", "d"), ("r", "n", "d2")]
            .map(|(r, n, d)| Slot::new(r, n, d).path);
        for (i, a) in paths.iter().enumerate() {
            for b in paths.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }
}
