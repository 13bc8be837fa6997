//! `/`: the mobile shell, the offline-first web app built into `mobile-shell/dist`
//! (`mobile-shell/build.sh`). When that directory has no `index.html`, `/` keeps the small login
//! check page instead.
//!
//! Every file is served with `Cache-Control: no-cache`: the browser revalidates (Last-Modified) on
//! each fetch, so a new build reaches the service worker at its next update check, and the service
//! worker — not the HTTP cache — is what keeps the app available offline. Gzipped copies (`*.gz`,
//! written by the build) are sent to browsers that accept them.
//!
//! The security headers (Content-Security-Policy allowing the wasm module, blob: photos and voice
//! notes, the microphone and camera) are set for every response in `http/headers.rs`.

use super::AppState;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use std::path::Path;
use tower::ServiceBuilder;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

pub fn router(dir: &Path) -> Router<AppState> {
    if !dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "no mobile shell built there; serving the login check page at /");
        return super::health::home_router();
    }
    tracing::info!(dir = %dir.display(), "serving the mobile shell at /");
    files(dir)
}

/// The files of the build, with their headers, for every path no other route claims.
fn files<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let files = ServeDir::new(dir)
        .precompressed_gzip()
        .append_index_html_on_directories(true);
    let service = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("service-worker-allowed"),
            HeaderValue::from_static("/"),
        ))
        .service(files);
    Router::new().fallback_service(service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn serves_the_build_with_revalidation_and_gzipped_copies() {
        let dir = std::env::temp_dir().join(format!(
            "vertel-shell-test-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><title>Vertel</title>",
        )
        .unwrap();
        std::fs::write(
            dir.join("sw.js"),
            "self.addEventListener('fetch', () => {});",
        )
        .unwrap();
        std::fs::write(dir.join("sw.js.gz"), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
        let get = |path: &str, gzip: bool| {
            let mut req = Request::get(path);
            if gzip {
                req = req.header(header::ACCEPT_ENCODING, "gzip");
            }
            files::<()>(&dir).oneshot(req.body(Body::empty()).unwrap())
        };

        let index = get("/", false).await.unwrap();
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(index.headers()[header::CACHE_CONTROL], "no-cache");

        let sw = get("/sw.js", true).await.unwrap();
        assert_eq!(sw.status(), StatusCode::OK);
        assert_eq!(sw.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(sw.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(
            sw.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
        let plain = get("/sw.js", false).await.unwrap();
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());

        assert_eq!(
            get("/nothing-here.js", false).await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/../Cargo.toml", false).await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
