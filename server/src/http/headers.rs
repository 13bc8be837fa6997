//! Security headers on every response, set in one place ([`security_headers`], applied around the
//! whole router in `http/mod.rs`), by the area the path belongs to:
//!
//! - the mobile shell (`/` and its files, or the login check page): scripts and styles from files
//!   of this origin only, WebAssembly compiled (`'wasm-unsafe-eval'`, never `eval`), photos and
//!   voice notes shown from `blob:` URLs, the sync websocket to this host; microphone and camera
//!   allowed for this origin (voice notes, photos);
//! - the coordinators' workspace (`/werkruimte/`): the same without WebAssembly, workers and media;
//!   no microphone, camera or location;
//! - the API (`/api/…`, `/sync`, `/healthz`): nothing may load or run (`default-src 'none'`), so a
//!   JSON answer, a photo or a downloaded report opened as a page stays inert.
//!
//! Everywhere: no framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), no referrer, no
//! MIME sniffing. The pages have no inline script, style or event handler attribute; keep it so.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Shell,
    Workspace,
    Api,
}

impl Area {
    fn of(path: &str) -> Area {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/api") || under("/sync") || under("/healthz") {
            Area::Api
        } else if under("/werkruimte") {
            Area::Workspace
        } else {
            Area::Shell
        }
    }
}

const SHELL_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
     worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

const WORKSPACE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

const API_CSP: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SHELL_PERMISSIONS: &str = "microphone=(self), camera=(self), geolocation=()";
const DENY_PERMISSIONS: &str = "microphone=(), camera=(), geolocation=()";

/// The shell's policy. `'self'` covers the same-origin websocket in browsers that follow CSP 3
/// (Chromium 71, Firefox, Safari 16 on); older Safari (iOS 15) needs the host spelled out with
/// the websocket schemes, taken from the request's `Host` when it is a plain host name or address
/// with an optional port.
fn shell_csp(host: Option<&str>) -> HeaderValue {
    let host = host.filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    match host {
        Some(h) => HeaderValue::from_str(&SHELL_CSP.replacen(
            "connect-src 'self'",
            &format!("connect-src 'self' ws://{h} wss://{h}"),
            1,
        ))
        .unwrap_or(HeaderValue::from_static(SHELL_CSP)),
        None => HeaderValue::from_static(SHELL_CSP),
    }
}

/// The headers for a response to `path` (requested with `host`).
fn set(headers: &mut HeaderMap, path: &str, host: Option<&str>) {
    let area = Area::of(path);
    let (csp, permissions) = match area {
        Area::Shell => (shell_csp(host), SHELL_PERMISSIONS),
        Area::Workspace => (HeaderValue::from_static(WORKSPACE_CSP), DENY_PERMISSIONS),
        Area::Api => (HeaderValue::from_static(API_CSP), DENY_PERMISSIONS),
    };
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(permissions),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Middleware (`axum::middleware::from_fn`) that sets the security headers on every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let mut resp = next.run(req).await;
    set(resp.headers_mut(), &path, host.as_deref());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_by_path() {
        for (path, area) in [
            ("/", Area::Shell),
            ("/index.html", Area::Shell),
            ("/pkg/vertel_shell_bg.wasm", Area::Shell),
            ("/apiary", Area::Shell),
            ("/werkruimte", Area::Workspace),
            ("/werkruimte/app.js", Area::Workspace),
            ("/api/v1/me", Area::Api),
            ("/api", Area::Api),
            ("/sync", Area::Api),
            ("/healthz", Area::Api),
        ] {
            assert_eq!(Area::of(path), area, "{path}");
        }
    }

    #[test]
    fn the_shell_may_open_its_websocket_on_its_own_host_only() {
        assert_eq!(
            shell_csp(Some("vertel.example:8080")),
            SHELL_CSP.replace(
                "connect-src 'self'",
                "connect-src 'self' ws://vertel.example:8080 wss://vertel.example:8080"
            )
        );
        assert_eq!(
            shell_csp(Some("[::1]:80"))
                .to_str()
                .ok()
                .map(|s| s.contains("ws://[::1]:80")),
            Some(true)
        );
        // Anything that could add a source or a directive is not copied.
        for bad in ["a; script-src *", "a b", "*", "a/b", ""] {
            assert_eq!(shell_csp(Some(bad)), SHELL_CSP, "{bad}");
        }
        assert_eq!(shell_csp(None), SHELL_CSP);
    }
}
