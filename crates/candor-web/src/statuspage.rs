//! Statuspage's public API v2 (`/api/v2/*.json`), for the status tools that read it:
//! exactly what the public page shows, anyone may read it from any origin (CORS), and a
//! reader that sends back the ETag it has gets 304 when nothing changed.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use candor_app::statuspage::PageInfo;

use crate::error::ApiError;
use crate::routes::{RouteTable, RouterExt};
use crate::AppState;

/// The documents, by their path under `/api/v2/` (as `StatuspageView::documents` names
/// them).
const DOCUMENTS: [&str; 8] = [
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
];

pub fn routes(t: &mut RouteTable) -> Router<AppState> {
    let mut router = Router::new();
    for doc in DOCUMENTS {
        router = router.at(
            t,
            &format!("/api/v2/{doc}"),
            get(move |State(state): State<AppState>, headers: HeaderMap| {
                document(state, headers, doc)
            }),
        );
    }
    router
}

async fn document(state: AppState, headers: HeaderMap, doc: &'static str) -> Response {
    let info = PageInfo::of(&state.config.public_url);
    let docs = match candor_app::statuspage::documents(&state.core, &info).await {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(found) = docs.get(doc) else {
        return ApiError::NotFound(format!("there is no /api/v2/{doc}")).into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == found.etag || t == "*")
        });
    let common = [
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
        (
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=30"),
        ),
    ];
    let etag = match HeaderValue::from_str(&found.etag) {
        Ok(v) => v,
        Err(e) => return ApiError::Internal(e.into()).into_response(),
    };
    if fresh {
        return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, etag)]).into_response();
    }
    (
        common,
        [
            (header::ETAG, etag),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            ),
        ],
        found.body.clone(),
    )
        .into_response()
}
