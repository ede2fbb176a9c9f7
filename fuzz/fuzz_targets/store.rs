//! The KV records as JSON, read into every record type: what deserialises serialises back to
//! the same record, and the record methods the edge calls on it do not fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::keys::{KeyRecord, KeysetRecord, RootSecret, Sealed, SigningKeys};
use pullgate::store::{
    AppRecord, CredentialRecord, DomainRecord, LicenseRecord, RevocationRecord, Secret, UpstreamRecord,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn read<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(json: &[u8]) -> Option<T> {
    let record: T = serde_json::from_slice(json).ok()?;
    let written = serde_json::to_vec(&record).ok();
    let again: Option<T> = written.and_then(|w| serde_json::from_slice(&w).ok());
    assert_eq!(again.as_ref(), Some(&record));
    Some(record)
}

fn exercise_upstream(upstream: &UpstreamRecord) {
    let _ = (upstream.host(), upstream.display_name(), upstream.api_base());
    let _ = (upstream.is_docker_hub(), upstream.allows("acme/app"), upstream.upstream_repo("nginx"));
}

fuzz_target!(|json: &[u8]| {
    let root = RootSecret::from_bytes([7; 32]);
    if let Some(app) = read::<AppRecord>(json) {
        for upstream in &app.upstreams {
            exercise_upstream(upstream);
            let _ = app.upstream_named(&upstream.host());
            let _ = upstream.credential.open(&root, &app.slug, &upstream.endpoint);
        }
        let _ = app.upstream_named("docker.io");
    }
    if let Some(upstream) = read::<UpstreamRecord>(json) {
        exercise_upstream(&upstream);
    }
    if let Some(credential) = read::<CredentialRecord>(json) {
        let _ = credential.open(&root, "acme", "https://ghcr.io");
    }
    let _ = read::<Secret>(json);
    let _ = read::<DomainRecord>(json);
    let _ = read::<LicenseRecord>(json);
    let _ = read::<RevocationRecord>(json);
    let _ = read::<KeyRecord>(json);
    if let Some(sealed) = read::<Sealed>(json) {
        let _ = root.open("ctx", &sealed);
    }
    if let Some(keyset) = read::<KeysetRecord>(json) {
        let _ = SigningKeys::open(&root, &keyset);
    }
});
