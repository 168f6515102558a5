//! A published post-incident review as one self-contained, print-friendly HTML document:
//! what the portal shows and offers to download, and what Graph's `incidentReport`
//! returns.

use askama::Template;
use candor_domain::health::{Issue, Pir};

use crate::error::{AppError, AppResult};
use crate::i18n::Tr;

#[derive(Template)]
#[template(path = "pir_document.html")]
pub struct ReviewDocument {
    pub tr: Tr,
    pub issue: Issue,
    pub pir: Pir,
    pub service: String,
    pub published: String,
    pub start: String,
    pub end: String,
}

impl ReviewDocument {
    pub fn new(tr: Tr, issue: Issue, pir: Pir, service: String) -> ReviewDocument {
        ReviewDocument {
            published: pir.published_at.map(|t| tr.time(&t)).unwrap_or_default(),
            start: tr.time(&pir.start),
            end: tr.time(&pir.end),
            tr,
            issue,
            pir,
            service,
        }
    }

    /// The document's HTML.
    pub fn html(&self) -> AppResult<String> {
        self.render()
            .map_err(|e| AppError::internal(anyhow::anyhow!("template: {e}")))
    }
}
