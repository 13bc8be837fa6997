//! Voice notes and photos over HTTP (`docs/media.md`): tus 1.0 core uploads, blob downloads under
//! the story access rule, and transcription status.
//!
//! These routes are merged outside the global 1 MiB body limit: an upload `PATCH` streams up to
//! `--max-upload-bytes` into the blob store in parts of at most 8 MiB (`media::blobs`), and
//! downloads stream from it, ranges included. Errors are `super::error::ApiError` (its `Media`
//! variant carries the tus headers).

use super::AppState;
use super::auth::AuthMember;
use super::error::ApiError;
use crate::media::jobs;
use crate::media::uploads::{self, MediaError, UploadInfo};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options};
use client_core::wire::DocumentId;
use serde::Deserialize;
use serde_json::json;

pub(super) const TUS_VERSION: &str = "1.0.0";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/uploads", options(tus_options).post(create))
        .route(
            "/api/v1/uploads/{id}",
            axum::routing::head(head)
                .patch(patch)
                .delete(abandon)
                .options(tus_options),
        )
        .route("/api/v1/blobs/{sha256}", get(download))
        .route("/api/v1/blobs/{sha256}/thumbnail", get(thumbnail))
        .route(
            "/api/v1/stories/{id}/transcription",
            get(transcription).post(retranscribe),
        )
}

/// Every tus response names the protocol and is never cached.
pub(super) fn tus_headers(h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn num(v: u64) -> HeaderValue {
    HeaderValue::from(v)
}

/// Every tus request except `OPTIONS` names the protocol version; others get 412.
fn check_tus(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get("tus-resumable")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == TUS_VERSION);
    if ok {
        return Ok(());
    }
    Err(ApiError::TusVersion)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<u64, MediaError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| MediaError::BadRequest(format!("{name} must be a non-negative integer")))
}

async fn tus_options(State(state): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    tus_headers(h);
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        "tus-extension",
        HeaderValue::from_static("creation,termination"),
    );
    h.insert("tus-max-size", num(state.media.config.max_upload_bytes));
    resp
}

fn upload_response(status: StatusCode, info: &UploadInfo, location: bool) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    tus_headers(h);
    h.insert("upload-offset", num(info.offset));
    h.insert("upload-length", num(info.length));
    if location && let Ok(v) = HeaderValue::from_str(&format!("/api/v1/uploads/{}", info.id)) {
        h.insert(header::LOCATION, v);
    }
    resp
}

async fn create(
    State(state): State<AppState>,
    auth: AuthMember,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_tus(&headers)?;
    {
        let length = header_u64(&headers, "upload-length")?;
        let meta = headers
            .get("upload-metadata")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                MediaError::BadRequest(
                    "Upload-Metadata with sha256, story and mime is required".into(),
                )
            })?;
        let meta = uploads::parse_metadata(meta)?;
        let info = uploads::create(&state.media, &auth.member, length, &meta).await?;
        Ok(upload_response(StatusCode::CREATED, &info, true))
    }
}

async fn head(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_tus(&headers)?;
    let info = uploads::status(&state.media, &auth.member, &id).await?;
    Ok(upload_response(StatusCode::OK, &info, false))
}

async fn patch(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    check_tus(&headers)?;
    {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if ct.split(';').next().unwrap_or_default().trim() != "application/offset+octet-stream" {
            return Err(MediaError::Unsupported(
                "Content-Type must be application/offset+octet-stream".into(),
            )
            .into());
        }
        let offset = header_u64(&headers, "upload-offset")?;
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > state.media.config.max_upload_bytes
        {
            return Err(MediaError::TooLarge(state.media.config.max_upload_bytes).into());
        }
        let body = request.into_body().into_data_stream();
        let info = uploads::append(&state.media, &auth.member, &id, offset, body).await?;
        Ok(upload_response(StatusCode::NO_CONTENT, &info, false))
    }
}

async fn abandon(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_tus(&headers)?;
    uploads::abandon(&state.media, &auth.member, &id).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    tus_headers(resp.headers_mut());
    Ok(resp)
}

/// Unknown query parameters are ignored: `token` may travel here too (an `<audio src>` cannot set
/// headers).
#[derive(Deserialize)]
struct StoryQuery {
    story: Option<String>,
}

async fn serve_blob(
    state: &AppState,
    auth: &AuthMember,
    sha256: &str,
    q: &StoryQuery,
    headers: &HeaderMap,
    thumbnail: bool,
) -> Result<Response, ApiError> {
    let story = q.story.as_deref().ok_or(MediaError::NotFound)?;
    let blob = uploads::open_for(&state.media, &auth.member, sha256, story, thumbnail).await?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(r) => byte_range(r, blob.len).map_err(|()| ApiError::RangeNotSatisfiable(blob.len))?,
    };
    // A coordinator reading a recording or photo is logged like opening the story: once per
    // playback (the first request starts at byte 0; a player's later ranges are not logged).
    if auth.member.role == crate::db::accounts::Role::Coordinator
        && range.is_none_or(|(start, _)| start == 0)
    {
        let what = if thumbnail { "thumbnail" } else { "media" };
        state
            .db
            .audit(
                Some(auth.member.workspace_id),
                Some(auth.member.id),
                "media.read",
                Some(story),
                Some(&format!("{what} {sha256}")),
            )
            .await
            .map_err(MediaError::from)?;
    }
    // A ranged get from the store (S3 sends only those bytes).
    let stream = state
        .media
        .store
        .stream(&blob.key, range)
        .await
        .map_err(MediaError::from)?;
    let (status, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        None => (StatusCode::OK, blob.len),
    };
    let mut resp = (status, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&blob.mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, num(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((start, end)) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", blob.len))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", blob.etag)) {
        h.insert(header::ETAG, v);
    }
    // Personal data: never in a shared cache, and never rendered as anything but media.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(resp)
}

/// The one byte range of a `Range: bytes=…` header, inclusive, within a file of `len` bytes:
/// `Ok(None)` for what is not a single byte range (the whole file is sent, as RFC 9110 allows),
/// `Err` for a range that starts past the end.
fn byte_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let range = match (first.is_empty(), last.is_empty()) {
        // The last n bytes.
        (true, false) => match parse(last) {
            Some(0) => return Err(()),
            Some(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            None => return Ok(None),
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return Ok(None);
            };
            let end = if last.is_empty() {
                len.saturating_sub(1)
            } else {
                match parse(last) {
                    Some(end) if end >= start => end.min(len.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            (start, end)
        }
        (true, true) => return Ok(None),
    };
    if len == 0 || range.0 >= len {
        return Err(());
    }
    Ok(Some(range))
}

async fn download(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(sha256): Path<String>,
    Query(q): Query<StoryQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve_blob(&state, &auth, &sha256, &q, &headers, false).await
}

async fn thumbnail(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(sha256): Path<String>,
    Query(q): Query<StoryQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve_blob(&state, &auth, &sha256, &q, &headers, true).await
}

async fn visible_story(state: &AppState, auth: &AuthMember, id: &str) -> Result<String, ApiError> {
    let id = id
        .parse::<DocumentId>()
        .map_err(|_| MediaError::NotFound)?
        .to_string();
    if !uploads::may_access_story(&state.db, &auth.member, &id)
        .await
        .map_err(MediaError::from)?
    {
        return Err(MediaError::NotFound.into());
    }
    Ok(id)
}

/// The transcription jobs of a story: status, progress, error, language.
async fn transcription(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = visible_story(&state, &auth, &id).await?;
    let jobs = state
        .media
        .queue
        .for_story(&id)
        .await
        .map_err(MediaError::from)?;
    let model = state.media.config.model_path();
    Ok(axum::Json(json!({
        "story": id,
        "model": {
            "available": state.media.queue.model_present,
            "name": crate::media::transcribe::model_name(&model),
        },
        "jobs": jobs,
    }))
    .into_response())
}

/// Transcribe a story's recordings again (after a failure, or with a new model). A transcript a
/// person corrected or approved is still never overwritten. Each recording may be queued again
/// `--max-transcription-requeues` times: when that stops every finished one, `409` says so.
async fn retranscribe(
    State(state): State<AppState>,
    auth: AuthMember,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = visible_story(&state, &auth, &id).await?;
    let outcome = state.media.queue.requeue_story(&id).await?;
    if outcome.requeued == 0 && outcome.at_limit > 0 {
        return Err(ApiError::Conflict(format!(
            "this story's recordings were already transcribed again {} times, the most allowed",
            outcome.limit
        )));
    }
    if let Ok(doc) = id.parse::<DocumentId>() {
        for job in state.media.queue.for_story(&id).await? {
            if job.status == "queued" {
                jobs::write_status(
                    &state.media,
                    doc,
                    &job.sha256,
                    "queued",
                    0,
                    job.error.as_deref(),
                    None,
                )
                .await;
            }
        }
    }
    state.media.queue.open(&id).await?;
    Ok(axum::Json(json!({
        "story": id,
        "requeued": outcome.requeued,
        "at_limit": outcome.at_limit,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn one_byte_range_or_the_whole_file() {
        assert_eq!(byte_range("bytes=0-", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=10-19", 100), Ok(Some((10, 19))));
        assert_eq!(byte_range("bytes=90-200", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=-0", 100), Err(()));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(byte_range("bytes=5-2", 100), Ok(None));
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range("bytes=x-", 100), Ok(None));
    }
}
