//! Post-incident reviews: the six sections Microsoft 365 publishes for major incidents.

use time::OffsetDateTime;

use super::IssueId;
use crate::identity::InvalidValue;

/// A post-incident review of one issue. Sections hold sanitized HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pir {
    pub issue_id: IssueId,
    pub user_impact: String,
    pub scope_of_impact: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub root_cause: String,
    pub actions_taken: String,
    pub next_steps: String,
    pub author: String,
    pub updated_at: OffsetDateTime,
    pub published_at: Option<OffsetDateTime>,
}

impl Pir {
    pub fn is_published(&self) -> bool {
        self.published_at.is_some()
    }

    /// A review is published only when every section says something and the times make sense.
    pub fn check_complete(&self) -> Result<(), InvalidValue> {
        for (name, text) in [
            ("user impact", &self.user_impact),
            ("scope of impact", &self.scope_of_impact),
            ("root cause", &self.root_cause),
            ("actions taken", &self.actions_taken),
            ("next steps", &self.next_steps),
        ] {
            if text.trim().is_empty() {
                return Err(InvalidValue::new(
                    "post-incident review",
                    format!("the {name} section is empty"),
                ));
            }
        }
        if self.end < self.start {
            return Err(InvalidValue::new(
                "post-incident review",
                "the incident cannot end before it starts",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn pir() -> Pir {
        Pir {
            issue_id: IssueId::from_trusted("EX100000"),
            user_impact: "Mail was delayed.".into(),
            scope_of_impact: "One scale unit in Europe.".into(),
            start: datetime!(2026-11-22 8:00 UTC),
            end: datetime!(2026-11-22 10:00 UTC),
            root_cause: "A full disk.".into(),
            actions_taken: "We freed space.".into(),
            next_steps: "Alert earlier.".into(),
            author: "im@provider.example".into(),
            updated_at: datetime!(2026-11-22 12:00 UTC),
            published_at: None,
        }
    }

    #[test]
    fn a_complete_review_passes() {
        assert!(pir().check_complete().is_ok());
    }

    #[test]
    fn every_section_is_required_and_time_runs_forward() {
        let mut p = pir();
        p.root_cause = " ".into();
        assert!(p
            .check_complete()
            .unwrap_err()
            .problem
            .contains("root cause"));
        let mut p = pir();
        p.end = p.start - time::Duration::minutes(1);
        assert!(p.check_complete().is_err());
    }
}
