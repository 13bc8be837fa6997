//! The one error type of the HTTP layer. Each variant says which status it becomes; database and
//! internal errors are logged and the client learns nothing more than "internal error".

use crate::db::DbError;
use axum::Json;
use axum::http::StatusCode;
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
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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
            ApiError::Db(DbError::Conflict(_)) => StatusCode::CONFLICT,
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
        let mut resp = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::TooManyRequests(wait) => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            ApiError::Busy => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}
