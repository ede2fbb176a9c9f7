//! The KV namespace the edge reads, behind one small trait so every command works the same on
//! the local store (`wrangler dev`) and on Cloudflare, and can be tested against memory.

pub mod cloudflare;
pub mod local;

#[cfg(test)]
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::failure::{Failure, Outcome};
use crate::settings::{self, env, WranglerConfig};

/// How a backend waits before retrying: the real clock in the CLI; tests pass a recorder, so the
/// retry paths run without sleeping through their backoff.
pub type Sleeper = Box<dyn Fn(Duration)>;

/// The sleeper the CLI uses.
pub fn real_sleeper() -> Sleeper {
    Box::new(std::thread::sleep)
}

/// A sleeper that only records the waits asked of it, and the list it records into.
#[cfg(test)]
pub fn recording_sleeper() -> (Sleeper, std::rc::Rc<RefCell<Vec<Duration>>>) {
    let waits = std::rc::Rc::new(RefCell::new(Vec::new()));
    let recorder = waits.clone();
    (Box::new(move |wait| recorder.borrow_mut().push(wait)), waits)
}

/// A KV namespace. Writes of several keys go through `put_many`/`delete_many`, which each
/// backend turns into one bulk request, so a command's change lands together or not at all
/// (as far as KV allows: a bulk write is one request, not a transaction).
pub trait Kv {
    /// Key names starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Outcome<Vec<String>>;
    /// Values of `keys`, in order; `None` for missing keys.
    fn get_many(&self, keys: &[String]) -> Outcome<Vec<Option<String>>>;
    fn put_many(&self, entries: &[(String, String)]) -> Outcome<()>;
    fn delete_many(&self, keys: &[String]) -> Outcome<()>;

    fn get(&self, key: &str) -> Outcome<Option<String>> {
        Ok(self.get_many(&[key.to_string()])?.pop().flatten())
    }
}

/// An in-memory namespace, for unit tests of the commands.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryKv {
    pub map: RefCell<BTreeMap<String, String>>,
}

#[cfg(test)]
impl Kv for MemoryKv {
    fn list(&self, prefix: &str) -> Outcome<Vec<String>> {
        Ok(self.map.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
    fn get_many(&self, keys: &[String]) -> Outcome<Vec<Option<String>>> {
        let map = self.map.borrow();
        Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
    }
    fn put_many(&self, entries: &[(String, String)]) -> Outcome<()> {
        self.map.borrow_mut().extend(entries.iter().cloned());
        Ok(())
    }
    fn delete_many(&self, keys: &[String]) -> Outcome<()> {
        let mut map = self.map.borrow_mut();
        for k in keys {
            map.remove(k);
        }
        Ok(())
    }
}

/// Parses a KV value as a schema record, naming the key when it does not fit.
pub fn decode<T: DeserializeOwned>(key: &str, value: &str) -> Outcome<T> {
    serde_json::from_str(value).map_err(|e| {
        Failure::failed(format!("the KV value at {key} is not a valid record: {e}"))
            .hint("it was written by something other than this pullgate version; inspect it with `wrangler kv key get`")
    })
}

/// Serialises a schema record for KV.
pub fn encode<T: Serialize>(record: &T) -> Outcome<String> {
    serde_json::to_string(record).map_err(|e| Failure::failed(format!("cannot encode a record: {e}")))
}

/// One record, decoded.
pub fn get_record<T: DeserializeOwned>(kv: &dyn Kv, key: &str) -> Outcome<Option<T>> {
    kv.get(key)?.map(|v| decode(key, &v)).transpose()
}

/// Every record under each prefix: one list (of all keys when there are several prefixes) and
/// one batched get, because each backend call can cost seconds.
pub fn load_prefixes(kv: &dyn Kv, prefixes: &[&str]) -> Outcome<BTreeMap<String, String>> {
    let names: Vec<String> = match prefixes {
        [one] => kv.list(one)?,
        _ => kv.list("")?.into_iter().filter(|k| prefixes.iter().any(|p| k.starts_with(p))).collect(),
    };
    let values = kv.get_many(&names)?;
    // A key deleted between list and get is simply gone.
    Ok(names.into_iter().zip(values).filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

/// Decodes every `(key, value)` whose key starts with `prefix`.
pub fn records<T: DeserializeOwned>(loaded: &BTreeMap<String, String>, prefix: &str) -> Outcome<Vec<T>> {
    loaded.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(k, v)| decode(k, v)).collect()
}

/// Which store the commands talk to, from the global flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    pub backend: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub wrangler_config: Option<PathBuf>,
    pub account_id: Option<String>,
    pub namespace_id: Option<String>,
    pub api_token_file: Option<PathBuf>,
}

impl BackendOptions {
    /// The wrangler.toml, if one can be found (needed for local; optional for cloudflare).
    pub fn wrangler_config(&self) -> Outcome<Option<WranglerConfig>> {
        match settings::wrangler_config_path(self.wrangler_config.as_deref()) {
            Some(path) => settings::load_wrangler_config(&path).map(Some),
            None => Ok(None),
        }
    }

    /// The backend named by `--backend` or the environment, if any.
    pub fn selected(&self) -> Option<String> {
        self.backend.clone().or_else(|| env(settings::ENV_BACKEND))
    }

    /// Connects to the selected backend.
    pub fn open(&self) -> Outcome<Box<dyn Kv>> {
        match self.selected().as_deref() {
            Some("local") => Ok(Box::new(self.open_local()?)),
            Some("cloudflare") => Ok(Box::new(cloudflare::CloudflareKv::from_options(self)?)),
            Some(other) => Err(Failure::usage(format!("unknown backend {other:?}: use local or cloudflare"))),
            None => Err(Failure::usage("no KV backend selected").hint(format!(
                "pass --backend local --state-dir DIR (the `wrangler dev --persist-to` dir) or --backend cloudflare, or set {}",
                settings::ENV_BACKEND
            ))),
        }
    }

    /// The local store (and wrangler) `wrangler dev` uses.
    pub fn open_local(&self) -> Outcome<local::LocalKv> {
        let state = self.state_dir.clone().or_else(|| env(settings::ENV_LOCAL_STATE).map(PathBuf::from));
        let state = state.ok_or_else(|| {
            Failure::usage("the local backend needs the wrangler state directory").hint(format!(
                "pass --state-dir DIR or set {} to the --persist-to directory of `wrangler dev` (scripts/dev uses .pullgate/kv)",
                settings::ENV_LOCAL_STATE
            ))
        })?;
        let config = self.wrangler_config()?.ok_or_else(|| {
            Failure::usage("the local backend needs the Worker's wrangler.toml").hint(format!(
                "run from the repository, or pass --wrangler-config / set {}",
                settings::ENV_WRANGLER_CONFIG
            ))
        })?;
        local::LocalKv::new(&state, &config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_prefixes_reads_only_the_asked_prefixes() {
        let kv = MemoryKv::default();
        kv.put_many(&[
            ("app:a".into(), "1".into()),
            ("domain:x.y".into(), "2".into()),
            ("license:l".into(), "3".into()),
        ])
        .unwrap();
        let both = load_prefixes(&kv, &["app:", "domain:"]).unwrap();
        assert_eq!(both.keys().collect::<Vec<_>>(), ["app:a", "domain:x.y"]);
        let one = load_prefixes(&kv, &["license:"]).unwrap();
        assert_eq!(one.get("license:l").map(String::as_str), Some("3"));
    }

    #[test]
    fn decode_failures_name_the_key() {
        let err = decode::<pullgate::store::AppRecord>("app:x", "{").unwrap_err();
        assert!(err.message.contains("app:x"));
    }
}
