//! Images in Kubernetes manifests, Helm values and kustomizations: found without losing the
//! documents (`yaml`, `find`), mapped to their names through the edge (`image_ref`), and
//! rewritten in place or as a kustomize `images:` patch (`rewrite`, `kustomize`).

pub mod find;
pub mod image_ref;
pub mod kustomize;
pub mod rewrite;
pub mod yaml;

#[cfg(test)]
pub mod fixtures {
    //! tests/fixtures/images/ with its placeholder registries made real, and the app serving them.
    use pullgate::store::AppRecord;

    pub const OPEN: &str = "127.0.0.1:18701";
    pub const BASIC: &str = "127.0.0.1:18703";
    pub const BEARER: &str = "127.0.0.1:18704";

    /// A fixture's text with each placeholder host replaced.
    pub fn load(name: &str) -> String {
        let path = format!("{}/tests/fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.replace("open.upstream.test", OPEN)
            .replace("basic.upstream.test", BASIC)
            .replace("bearer.upstream.test", BEARER)
    }

    /// App `demo` with the demo's three upstreams, as scripts/demo/seed configures them.
    pub fn app() -> AppRecord {
        let upstream = |host: &str, alias: &str| serde_json::json!({ "endpoint": format!("http://{host}"), "alias": alias, "credential": { "kind": "none" }, "insecure": true });
        serde_json::from_value(serde_json::json!({
            "v": 1, "slug": "demo", "name": "Demo", "created_at": 0,
            "upstreams": [upstream(OPEN, "local"), upstream(BASIC, "basic"), upstream(BEARER, "bearer")],
        }))
        .unwrap()
    }
}
