//! What service health pages show alike to tenants and operators: labels, posts, the
//! post-incident review document.

use axum::response::{IntoResponse, Response};
use candor_domain::health::{Classification, Post, PostType};

use crate::error::ApiError;
use candor_app::i18n::Tr;
pub use candor_app::review_document::ReviewDocument;

pub use candor_app::status_page::{status_class, status_label};

pub(crate) fn classification_label(tr: &Tr, c: Classification) -> String {
    tr.t(&format!("classification-{}", c.as_str()))
}

pub(crate) fn post_type_label(tr: &Tr, t: PostType) -> String {
    tr.t(&format!("post-{}", t.as_str()))
}

pub struct PostView {
    pub status: String,
    pub status_class: &'static str,
    pub date: String,
    pub post_type: String,
    pub body: String,
    pub cadence_note: Option<String>,
}

pub(crate) fn post_views(tr: &Tr, posts: &[Post]) -> Vec<PostView> {
    posts
        .iter()
        .rev()
        .map(|p| PostView {
            status: status_label(tr, p.status),
            status_class: status_class(p.status),
            date: tr.time(&p.created_at),
            post_type: post_type_label(tr, p.post_type),
            body: p.body_in(tr.lang).to_owned(),
            cadence_note: p
                .new_cadence
                .map(|c| tr.t1("cadence-note", "minutes", &c.whole_minutes().to_string())),
        })
        .collect()
}

/// A post-incident review as a self-contained, print-friendly page; `download` asks the
/// browser to save it.
pub fn review_response(doc: &ReviewDocument, download: bool) -> Response {
    match doc.html() {
        Ok(html) => {
            let disposition = format!(
                "{}; filename=\"{}-post-incident-review.html\"",
                if download { "attachment" } else { "inline" },
                doc.issue.id
            );
            (
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "text/html; charset=utf-8".to_owned(),
                    ),
                    (axum::http::header::CONTENT_DISPOSITION, disposition),
                ],
                html,
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
