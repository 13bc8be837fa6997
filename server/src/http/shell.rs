//! `/`: the mobile shell, the offline-first web app built into `mobile-shell/dist`
//! (`mobile-shell/build.sh`). When that directory has no `index.html`, `/` keeps the small login
//! check page instead.
//!
//! The files are served by [`super::assets::directory`]: every file with `Cache-Control: no-cache`
//! (the browser revalidates, Last-Modified, on each fetch), so a new build reaches the service worker
//! at its next update check, and the service worker — not the HTTP cache — is what keeps the app
//! available offline. Gzipped copies (`*.gz`, written by the build) are sent to browsers that
//! accept them.
//!
//! The security headers (Content-Security-Policy allowing the wasm module, blob: photos and voice
//! notes, the microphone and camera) are set for every response in `http/headers.rs`.

use super::AppState;
use axum::Router;
use std::path::Path;

pub fn router(dir: &Path) -> Router<AppState> {
    if !dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "no mobile shell built there; serving the login check page at /");
        return super::health::home_router();
    }
    tracing::info!(dir = %dir.display(), "serving the mobile shell at /");
    super::assets::directory(dir)
}
