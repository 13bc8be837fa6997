//! Static files, served one way: the coordinators' web app embedded in the binary
//! (`/werkruimte/`, from `server/workspace-ui/`) and the mobile shell's build directory (`/`,
//! [`super::shell`]) both go through [`revalidated`], so every file is sent with
//! `Cache-Control: no-cache` (the browser revalidates on each fetch, and a new build is seen at
//! once). The build directory's gzipped copies (`*.gz`) are sent to browsers that accept them; the
//! embedded files are small and sent as they are.
//!
//! What is not here: the security headers (Content-Security-Policy per area, set for every response
//! in `http/headers.rs`) and any API route.

use super::ApiError;
use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::path::Path;
use tower::ServiceBuilder;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// A file compiled into the binary: its name under the mount point, content type and content.
pub struct Embedded {
    pub name: &'static str,
    pub mime: &'static str,
    pub body: &'static str,
}

/// A file of `server/workspace-ui/`, embedded.
macro_rules! ui_file {
    ($name:literal, $mime:literal) => {
        Embedded {
            name: $name,
            mime: $mime,
            body: include_str!(concat!("../../workspace-ui/", $name)),
        }
    };
}

/// The coordinators' web app. Everything is embedded in the binary: nothing is fetched at run time.
const WORKSPACE_UI: &[Embedded] = &[
    ui_file!("index.html", "text/html; charset=utf-8"),
    ui_file!("app.js", "text/javascript; charset=utf-8"),
    ui_file!("chart.js", "text/javascript; charset=utf-8"),
    ui_file!("i18n-nl.js", "text/javascript; charset=utf-8"),
    ui_file!("i18n-en.js", "text/javascript; charset=utf-8"),
    ui_file!("style.css", "text/css; charset=utf-8"),
];

/// The caching rule of every static file: revalidate on each fetch.
fn revalidated() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
}

/// The coordinators' web app at `/werkruimte/` (`/werkruimte` redirects there).
pub fn workspace_ui<S: Clone + Send + Sync + 'static>() -> Router<S> {
    embedded("/werkruimte", WORKSPACE_UI)
}

/// `files` under `mount`: `{mount}/` is `index.html`, an unknown name is 404.
fn embedded<S: Clone + Send + Sync + 'static>(
    mount: &'static str,
    files: &'static [Embedded],
) -> Router<S> {
    let one = move |name: &str| -> Response {
        match files.iter().find(|f| f.name == name) {
            Some(f) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(f.mime))],
                f.body,
            )
                .into_response(),
            None => ApiError::NotFound.into_response(),
        }
    };
    Router::new()
        .route(
            mount,
            get(move || async move { Redirect::permanent(&format!("{mount}/")) }),
        )
        .route(
            &format!("{mount}/"),
            get(move || async move { one("index.html") }),
        )
        .route(
            &format!("{mount}/{{file}}"),
            get(move |UrlPath(f): UrlPath<String>| async move { one(&f) }),
        )
        .layer(revalidated())
}

/// The files of a build directory, for every path no other route claims: gzipped copies to
/// browsers that accept them, and `Service-Worker-Allowed: /` (the shell's service worker).
pub fn directory<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let files = ServeDir::new(dir)
        .precompressed_gzip()
        .append_index_html_on_directories(true);
    let service = ServiceBuilder::new()
        .layer(revalidated())
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
            directory::<()>(&dir).oneshot(req.body(Body::empty()).unwrap())
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

    #[tokio::test]
    async fn serves_the_embedded_app_with_revalidation() {
        let get = |path: &str| {
            workspace_ui::<()>().oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        let index = get("/werkruimte/").await.unwrap();
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(index.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let app = get("/werkruimte/app.js").await.unwrap();
        assert_eq!(app.status(), StatusCode::OK);
        assert_eq!(app.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(
            app.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
        let bare = get("/werkruimte").await.unwrap();
        assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(bare.headers()[header::LOCATION], "/werkruimte/");
        assert_eq!(
            get("/werkruimte/nothing.js").await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
}
