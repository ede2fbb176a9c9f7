//! Images in Kubernetes manifests, Helm values and kustomizations, read without losing the
//! documents (`yaml`).

#[allow(dead_code)]
pub mod yaml;
