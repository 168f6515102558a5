//! One error type for the HTTP layer, mapped to responses in one place. Internal errors
//! are logged with a correlation id and never echoed to the client.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use candor_app::error::AppError;
use candor_domain::identity::{Denied, InvalidValue};
use candor_domain::store::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    /// Not signed in, or the credentials are missing, malformed, expired or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(#[from] Denied),
    #[error("{0}")]
    NotFound(String),
    /// The body is larger than the endpoint takes.
    #[error("{0}")]
    TooLarge(String),
    /// The body is not of a type the endpoint takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Conflict(String),
    /// Something Candor depends on is not answering; worth trying again later.
    #[error("{0}")]
    Unavailable(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// OAuth token endpoint errors use RFC 6749's body, not Candor's.
    #[error("{description}")]
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OAuth { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, snake_case code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Invalid(_) => "invalid_value",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(d) => match d.reason {
                candor_domain::identity::DenyReason::OtherTenant => "other_tenant",
                candor_domain::identity::DenyReason::WrongRealm => "wrong_realm",
                candor_domain::identity::DenyReason::MissingRole => "forbidden",
            },
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::OAuth { error, .. } => error,
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The message shown to the caller; internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "something went wrong on our side; the error has been logged".into()
            }
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(AppError::from(e))
    }
}

/// The one place the application layer's errors become HTTP's.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(v) => ApiError::Invalid(v),
            AppError::Refused(m) => ApiError::BadRequest(m),
            AppError::Unauthenticated(m) => ApiError::Unauthenticated(m),
            AppError::Forbidden(d) => ApiError::Forbidden(d),
            AppError::NotFound(m) => ApiError::NotFound(m),
            AppError::Conflict(c) => ApiError::Conflict(c.to_string()),
            AppError::Unavailable(m) => ApiError::Unavailable(m),
            AppError::TooMany {
                message,
                retry_after_secs,
            } => ApiError::TooManyRequests {
                message,
                retry_after_secs,
            },
            AppError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(e) = &self {
            let correlation = uuid::Uuid::new_v4();
            tracing::error!(%correlation, error = ?e, "internal error");
            let body = json!({"error": {"code": "internal_error",
                "message": format!("something went wrong on our side (correlation id {correlation})")}});
            return (status, Json(body)).into_response();
        }
        if let ApiError::OAuth {
            error, description, ..
        } = &self
        {
            let body = json!({"error": error, "error_description": description});
            return (status, Json(body)).into_response();
        }
        let body = json!({"error": {"code": self.code(), "message": self.public_message()}});
        let mut response = (status, Json(body)).into_response();
        match &self {
            ApiError::Unauthenticated(_) => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"candor\""),
                );
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
