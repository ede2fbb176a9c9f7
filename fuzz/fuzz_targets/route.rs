//! `route::parse` on any method and raw path (input: one method byte, then the path). A request
//! that routes to a name must route the same again when its path is rebuilt from the parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullgate::route::{parse, Method, Route};

fuzz_target!(|data: &[u8]| {
    let Some((selector, path)) = data.split_first() else { return };
    let method = [Method::Get, Method::Head, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Other]
        [usize::from(selector % 7)];
    let path = String::from_utf8_lossy(path);
    let Ok(route) = parse(method, &path) else { return };
    let rebuilt = match &route {
        Route::VersionCheck | Route::Token => return,
        Route::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
        Route::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
        Route::Tags { name } => format!("/v2/{name}/tags/list"),
        Route::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
        Route::HostedAdmin(op) => {
            use pullgate::service::hosted::admin::AdminRoute as A;
            format!("/_pullgate/hosted/{}", if *op == A::Objects { "objects" } else { "delete" })
        }
        Route::Push(push) => {
            use pullgate::service::hosted::route::PushRoute as P;
            match push {
                P::StartUpload { name } => format!("/v2/{name}/blobs/uploads/"),
                P::Upload { name, id, .. } => format!("/v2/{name}/blobs/uploads/{id}"),
                P::PutManifest { name, reference } | P::DeleteManifest { name, reference } => {
                    format!("/v2/{name}/manifests/{reference}")
                }
                P::DeleteBlob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
            }
        }
    };
    assert_eq!(parse(method, &rebuilt), Ok(route), "{path:?} rebuilt as {rebuilt:?}");
});
