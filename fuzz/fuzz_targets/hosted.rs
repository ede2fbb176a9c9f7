//! The hosted registry's client-facing parsers (input: a selector byte, then the text): a
//! blob `Range` against a size, an upload's `Content-Range`, a pushed manifest, an admin delete
//! request, and gc's decision over a snapshot. A range that parses lies inside the blob; a
//! manifest that parses names only valid digests; gc never deletes an object younger than its
//! grace period.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::service::hosted::{admin, gc, manifests, route};

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match selector % 5 {
        0 => {
            let size = u64::from(*selector) * 977;
            if let Ok(Some(r)) = route::blob_range(Some(&text), size) {
                assert!(r.length > 0 && r.offset + r.length <= size, "{text:?} on {size}: {r:?}");
            }
        }
        1 => {
            if let Ok((start, end)) = route::content_range(&text) {
                assert!(start <= end, "{text:?}");
            }
        }
        3 => {
            let _ = serde_json::from_slice::<admin::DeleteRequest>(rest);
        }
        4 => {
            let Ok(entries) = serde_json::from_slice::<Vec<gc::Entry>>(rest) else { return };
            let (now, min_age) = (1_000_000, i64::from(*selector) * 10);
            let plan = gc::plan("a", &entries, now, min_age);
            for e in entries.iter().filter(|e| now.saturating_sub(e.uploaded) < min_age) {
                assert!(!plan.delete.contains(&e.key), "young {} collected", e.key);
            }
        }
        _ => {
            if let Ok(parsed) = manifests::parse(rest) {
                for d in parsed.layers.iter().chain(&parsed.manifests).chain(&parsed.config) {
                    assert!(d.digest.parse::<pullgate::reference::Digest>().is_ok());
                }
            }
        }
    }
});
