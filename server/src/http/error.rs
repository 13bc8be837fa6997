//! The one error type of the HTTP layer. Each variant says which status it becomes; database and
//! internal errors are logged and the client learns nothing more than "internal error". Media
//! errors (`MediaError`, the tus uploads and blob downloads) carry the tus headers too.

use crate::db::DbError;
use crate::media::photos::PhotoError;
use crate::media::uploads::MediaError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// Backoff: the client may try again after this long (`Retry-After`).
    #[error("too many attempts; try again later")]
    TooManyRequests(std::time::Duration),
    /// Too much work queued (password checks): try again in a moment.
    #[error("server busy; try again in a moment")]
    Busy,
    /// A new password the policy refuses; the body carries a `code` for clients' own texts.
    #[error("{0}")]
    WeakPassword(crate::auth::policy::PasswordProblem),
    #[error("{0}")]
    Conflict(String),
    /// Input that was read but cannot be taken (422): the body carries `detail`'s fields beside
    /// `error` (an import's bad rows, each with its line).
    #[error("{message}")]
    Unprocessable {
        message: String,
        detail: serde_json::Map<String, serde_json::Value>,
    },
    /// A tus request without `Tus-Resumable: 1.0.0` (412, with `Tus-Version`).
    #[error("Tus-Resumable: {} is required", super::media::TUS_VERSION)]
    TusVersion,
    /// A byte range past the end of a blob of this many bytes (416, with `Content-Range`).
    #[error("the range is outside the file")]
    RangeNotSatisfiable(u64),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn media_status(e: &MediaError) -> StatusCode {
    match e {
        MediaError::NotFound => StatusCode::NOT_FOUND,
        MediaError::BadRequest(_) | MediaError::Interrupted(_) => StatusCode::BAD_REQUEST,
        MediaError::TooLarge(_) | MediaError::QuotaExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
        MediaError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        MediaError::OffsetMismatch { .. } | MediaError::Busy => StatusCode::CONFLICT,
        // The tus checksum extension's "Checksum Mismatch".
        MediaError::ChecksumMismatch => {
            StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)
        }
        MediaError::Photo(PhotoError::TooManyPixels { .. } | PhotoError::TooMuchMemory { .. }) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        MediaError::Photo(_) => StatusCode::UNPROCESSABLE_ENTITY,
        MediaError::Db(_) | MediaError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::WeakPassword(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Db(DbError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::TusVersion => StatusCode::PRECONDITION_FAILED,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Media(e) => media_status(e),
            ApiError::Db(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "internal error");
            "internal error".to_string()
        } else {
            self.to_string()
        };
        let mut body = json!({ "error": message });
        if let ApiError::WeakPassword(problem) = &self {
            body["code"] = problem.code().into();
        }
        if let (ApiError::Unprocessable { detail, .. }, Some(fields)) =
            (&self, body.as_object_mut())
        {
            fields.extend(detail.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut resp = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::TooManyRequests(wait) => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            ApiError::Busy => Some(1),
            _ => None,
        };
        let h = resp.headers_mut();
        if let Some(secs) = retry_after {
            h.insert(header::RETRY_AFTER, secs.into());
        }
        match &self {
            ApiError::Media(_) | ApiError::TusVersion | ApiError::RangeNotSatisfiable(_) => {
                super::media::tus_headers(h);
            }
            _ => {}
        }
        if let ApiError::TusVersion = &self {
            h.insert(
                "tus-version",
                HeaderValue::from_static(super::media::TUS_VERSION),
            );
        }
        if let ApiError::RangeNotSatisfiable(len) = &self
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}"))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
        resp
    }
}
