//! Portal forms: `axum_extra`'s form (repeated fields become lists), with a refusal that
//! says which field is missing or wrong in Candor's error body, instead of axum's
//! plain-text 422 (413 and 415 keep their status).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum_extra::extract::Form::<T>::from_request(req, state)
            .await
            .map(|axum_extra::extract::Form(v)| Form(v))
            .map_err(|e| {
                let detail = e.body_text();
                let detail = detail
                    .strip_prefix("Failed to deserialize form body: ")
                    .or_else(|| detail.strip_prefix("Failed to deserialize form: "))
                    .unwrap_or(&detail)
                    .to_owned();
                match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::TooLarge(format!("the form is too large: {detail}"))
                    }
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                        "send the form as application/x-www-form-urlencoded".into(),
                    ),
                    _ => ApiError::BadRequest(format!(
                        "the form is not complete or not valid: {detail}"
                    )),
                }
            })
    }
}
