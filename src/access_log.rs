//! The access log: one JSON object per request, so a vendor can see (and Workers Logs can
//! query) which customer pulled which image, with what outcome. Never a credential: no
//! headers, no query strings, only the route's parts, the license id and the customer name.

use serde::Serialize;

use crate::route::Route;

/// One request, as logged.
#[derive(Debug, Serialize)]
pub struct AccessRecord<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// `version`, `token`, `manifest`, `blob`, `tags`, `referrers`, or `invalid` (no route).
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Tag or digest of a manifest, digest of a blob or of a referrers subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub status: u16,
    pub outcome: &'static str,
    /// The OCI error code of a refusal or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<&'a str>,
    /// Body bytes the client gets from the edge itself (absent when unknown, as for streams
    /// without a length, and 0 for redirects: those bytes come from the upstream's CDN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The response carried the license-expiry `Warning` (the license is within its window).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub license_expiring: bool,
}

/// Action, image and reference of a parsed route.
pub fn describe(route: Option<&Route>) -> (&'static str, Option<String>, Option<String>) {
    match route {
        None => ("invalid", None, None),
        Some(Route::VersionCheck) => ("version", None, None),
        Some(Route::Token) => ("token", None, None),
        Some(Route::Manifest { name, reference }) => ("manifest", Some(name.to_string()), Some(reference.to_string())),
        Some(Route::Blob { name, digest }) => ("blob", Some(name.to_string()), Some(digest.to_string())),
        Some(Route::Tags { name }) => ("tags", Some(name.to_string()), None),
        Some(Route::Referrers { name, digest }) => ("referrers", Some(name.to_string()), Some(digest.to_string())),
        Some(Route::HostedAdmin(op)) => ("hosted_admin", None, Some(format!("{op:?}").to_ascii_lowercase())),
        Some(Route::Push(push)) => {
            let (action, reference) = push.describe();
            (action, Some(push.name().to_string()), reference)
        }
    }
}

/// A word for the status, to filter on without knowing HTTP.
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        300..=399 => "redirected",
        401 | 403 => "refused",
        404 => "not_found",
        429 => "rate_limited",
        400..=499 => "bad_request",
        502..=504 => "upstream_failed",
        _ => "error",
    }
}

impl AccessRecord<'_> {
    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail; an empty line beats a panic.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{self, Method};

    #[test]
    fn routes_are_described_by_action_image_and_reference() {
        let cases = [
            ("/v2/", Some(("version", None, None))),
            ("/v2/token", Some(("token", None, None))),
            ("/v2/proxy/acme/ghcr.io/org/app/manifests/1.0", Some(("manifest", Some("proxy/acme/ghcr.io/org/app"), Some("1.0")))),
            (
                "/v2/proxy/acme/ghcr.io/org/app/blobs/sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                Some((
                    "blob",
                    Some("proxy/acme/ghcr.io/org/app"),
                    Some("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                )),
            ),
            ("/v2/ghcr.io/org/app/tags/list", Some(("tags", Some("ghcr.io/org/app"), None))),
            ("/v2/Bad/manifests/1.0", None),
        ];
        for (path, want) in cases {
            let parsed = route::parse(Method::Get, path).ok();
            let (action, image, reference) = describe(parsed.as_ref());
            match want {
                Some((a, i, r)) => {
                    assert_eq!((action, image.as_deref(), reference.as_deref()), (a, i, r), "{path}");
                }
                None => assert_eq!((action, image, reference), ("invalid", None, None), "{path}"),
            }
        }
    }

    #[test]
    fn outcomes_name_the_status_class() {
        for (status, want) in [
            (200, "ok"),
            (206, "ok"),
            (307, "redirected"),
            (401, "refused"),
            (403, "refused"),
            (404, "not_found"),
            (429, "rate_limited"),
            (400, "bad_request"),
            (405, "bad_request"),
            (502, "upstream_failed"),
            (504, "upstream_failed"),
            (500, "error"),
        ] {
            assert_eq!(outcome(status), want, "{status}");
        }
    }

    #[test]
    fn records_are_one_json_line_without_absent_fields() {
        let record = AccessRecord {
            method: "GET",
            host: "images.acme.com",
            action: "manifest",
            image: Some("ghcr.io/org/app".into()),
            reference: Some("1.0".into()),
            status: 200,
            outcome: "ok",
            error: None,
            customer: Some("Globex \"Corp\"\nLtd"),
            license: Some("lic_000000000000000000000001"),
            bytes: Some(1234),
            license_expiring: false,
        };
        let line = record.to_json();
        assert!(!line.contains('\n'), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["customer"], "Globex \"Corp\"\nLtd");
        assert_eq!(v["bytes"], 1234);
        assert!(v.get("error").is_none());
        assert!(v.get("license_expiring").is_none(), "only a warned pull is marked");
        let refused = AccessRecord {
            status: 403,
            outcome: "refused",
            error: Some("DENIED"),
            customer: None,
            license: None,
            bytes: None,
            ..record
        };
        let v: serde_json::Value = serde_json::from_str(&refused.to_json()).unwrap();
        assert_eq!((v["error"].as_str(), v.get("customer")), (Some("DENIED"), None));
    }
}
