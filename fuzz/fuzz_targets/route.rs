//! `route::parse` on any method and raw path (input: one method byte, then the path). A request
//! that routes to a name must route the same again when its path is rebuilt from the parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::route::{parse, Method, Route};

fuzz_target!(|data: &[u8]| {
    let Some((selector, path)) = data.split_first() else { return };
    let method = [Method::Get, Method::Head, Method::Post, Method::Write, Method::Other][usize::from(selector % 5)];
    let path = String::from_utf8_lossy(path);
    let Ok(route) = parse(method, &path) else { return };
    let rebuilt = match &route {
        Route::VersionCheck | Route::Token => return,
        Route::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
        Route::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
        Route::Tags { name } => format!("/v2/{name}/tags/list"),
        Route::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
    };
    assert_eq!(parse(method, &rebuilt), Ok(route), "{path:?} rebuilt as {rebuilt:?}");
});
