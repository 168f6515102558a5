use time::{Duration, OffsetDateTime};

use super::AuditChain;
use crate::identity::InvalidValue;

/// The longest range one search may cover.
pub const MAX_SEARCH_RANGE: Duration = Duration::days(366);

/// A validated audit search: a date range is required, the rest narrows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditQuery {
    pub chain: AuditChain,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub activities: Vec<String>,
    pub users: Vec<String>,
    pub item: Option<String>,
    /// Return records with seq below this (the cursor of the previous page).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// Raw search input from a form, a query string or the CLI.
#[derive(Debug, Clone, Default)]
pub struct AuditQueryInput {
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub activities: Vec<String>,
    pub users: Vec<String>,
    pub item: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn clean_list(values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

impl AuditQuery {
    pub fn parse(chain: AuditChain, input: AuditQueryInput) -> Result<AuditQuery, InvalidValue> {
        let from = input.from.ok_or_else(|| {
            InvalidValue::new("start", "a start date is required (for example 2026-11-01)")
        })?;
        let to = input.to.ok_or_else(|| {
            InvalidValue::new("end", "an end date is required (for example 2026-11-30)")
        })?;
        if to <= from {
            return Err(InvalidValue::new(
                "end",
                "the end date must be after the start date",
            ));
        }
        if to - from > MAX_SEARCH_RANGE {
            return Err(InvalidValue::new(
                "end",
                "a search may cover at most 366 days; narrow the date range",
            ));
        }
        let before_seq = match input.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                InvalidValue::new(
                    "cursor",
                    "the page cursor is not valid; start the search again",
                )
            })?),
        };
        let item = input
            .item
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        Ok(AuditQuery {
            chain,
            from,
            to,
            activities: clean_list(input.activities),
            users: clean_list(input.users)
                .into_iter()
                .map(|u| u.to_lowercase())
                .collect(),
            item,
            before_seq,
            limit: crate::page::page_size(input.limit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn input(from: Option<OffsetDateTime>, to: Option<OffsetDateTime>) -> AuditQueryInput {
        AuditQueryInput {
            from,
            to,
            ..Default::default()
        }
    }

    #[test]
    fn a_date_range_is_required() {
        let err = AuditQuery::parse(
            AuditChain::Operator,
            input(None, Some(datetime!(2026-11-02 0:00 UTC))),
        )
        .unwrap_err();
        assert_eq!(err.field, "start");
        let err = AuditQuery::parse(
            AuditChain::Operator,
            input(Some(datetime!(2026-11-02 0:00 UTC)), None),
        )
        .unwrap_err();
        assert_eq!(err.field, "end");
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let err = AuditQuery::parse(
            AuditChain::Operator,
            input(
                Some(datetime!(2026-11-02 0:00 UTC)),
                Some(datetime!(2026-11-01 0:00 UTC)),
            ),
        )
        .unwrap_err();
        assert!(err.problem.contains("after the start"));
    }

    #[test]
    fn lists_are_split_and_trimmed() {
        let q = AuditQuery::parse(
            AuditChain::Operator,
            AuditQueryInput {
                from: Some(datetime!(2026-11-01 0:00 UTC)),
                to: Some(datetime!(2026-11-02 0:00 UTC)),
                activities: vec!["UserLoggedIn, Add-User".into(), " ".into()],
                users: vec!["Ada@Contoso.example".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(q.activities, vec!["UserLoggedIn", "Add-User"]);
        assert_eq!(q.users, vec!["ada@contoso.example"]);
        assert_eq!(q.limit, crate::page::DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn a_bad_cursor_is_refused() {
        let mut i = input(
            Some(datetime!(2026-11-01 0:00 UTC)),
            Some(datetime!(2026-11-02 0:00 UTC)),
        );
        i.cursor = Some("abc".into());
        assert_eq!(
            AuditQuery::parse(AuditChain::Operator, i)
                .unwrap_err()
                .field,
            "cursor"
        );
    }
}
