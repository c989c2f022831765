//! The live page's files, embedded in the binary (plain HTML, CSS and JS; no build step).

use super::http::Response;

/// Path, content type and bytes of every embedded file.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/live/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/live/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/live/app.css"),
    ),
    (
        "/assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
    (
        "/assets/uPlot.LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/LICENSE"),
    ),
];

/// The embedded file at `path` (`/index.html` is `/`).
pub fn asset(path: &str) -> Option<Response> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, content_type, bytes)| {
            let mut response = Response::new("200 OK", content_type, bytes.to_vec());
            // Only the vendored library never changes between builds of tickflow.
            response.cacheable = path.starts_with("/assets/uPlot");
            response
        })
}
