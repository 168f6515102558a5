//! The application layer's one error type, in the product's terms. The HTTP layer maps it
//! to status codes once (`candor_web::error`), the CLI to exit codes once.

use candor_domain::identity::{Denied, InvalidValue};
use candor_domain::store::{Conflict, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A value given is not acceptable: names the field and the problem.
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    /// The request cannot be carried out as asked, through no single field's fault (an
    /// update that changes nothing; a step only another kind of actor takes).
    #[error("{0}")]
    Refused(String),
    /// The credentials given are not correct.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(#[from] Denied),
    /// What was asked for does not exist (or is not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// The change collides with what is stored or with the thing's present state.
    #[error("{0}")]
    Conflict(Conflict),
    /// Something Candor depends on (a mail relay, a webhook endpoint) is not answering.
    #[error("{0}")]
    Unavailable(String),
    /// The caller asked too often; it may ask again after `retry_after_secs`.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    /// A step the present state does not allow, with the domain's reason.
    pub fn not_now(reason: impl Into<String>) -> Self {
        AppError::Conflict(Conflict::NotNow(reason.into()))
    }
}

/// For `map_err`: the store's `NotFound` told as `what` is not found, anything else as
/// it is.
pub fn not_found_as(what: &'static str) -> impl FnOnce(StoreError) -> AppError {
    move |e| match e {
        StoreError::NotFound => AppError::NotFound(what.into()),
        other => other.into(),
    }
}

/// `Ok` when a removal found its row, else `what` is not found.
pub fn found(removed: bool, what: &'static str) -> AppResult<()> {
    if removed {
        Ok(())
    } else {
        Err(AppError::NotFound(what.into()))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("not found".into()),
            StoreError::Conflict(c) => AppError::Conflict(c),
            other => AppError::Internal(other.into()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
