//! The hosted registry's client-facing parsers (input: a selector byte, then the text): a
//! blob `Range` against a size, an upload's `Content-Range`, and a pushed manifest. A range
//! that parses lies inside the blob; a manifest that parses names only valid digests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::service::hosted::{manifests, route};

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match selector % 3 {
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
        _ => {
            if let Ok(parsed) = manifests::parse(rest) {
                for d in parsed.layers.iter().chain(&parsed.manifests).chain(&parsed.config) {
                    assert!(d.digest.parse::<pullgate::reference::Digest>().is_ok());
                }
            }
        }
    }
});
