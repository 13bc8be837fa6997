//! `/`: the mobile shell, the offline-first web app built into `mobile-shell/dist`
//! (`mobile-shell/build.sh`). When that directory has no `index.html`, `/` keeps the small login
//! check page instead.
//!
//! Every file is served with `Cache-Control: no-cache`: the browser revalidates (Last-Modified) on
//! each fetch, so a new build reaches the service worker at its next update check, and the service
//! worker — not the HTTP cache — is what keeps the app available offline. Gzipped copies (`*.gz`,
//! written by the build) are sent to browsers that accept them.

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
    let files = ServeDir::new(dir)
        .precompressed_gzip()
        .append_index_html_on_directories(true);
    let service = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("service-worker-allowed"),
            HeaderValue::from_static("/"),
        ))
        .service(files);
    Router::new().fallback_service(service)
}
