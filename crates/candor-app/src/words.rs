//! Words from a form, a request body or a command line, read into the product's enums
//! where they arrive, so every service takes the enums. Blank is absent; a word that
//! names nothing is invalid, and the error names its field.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use candor_domain::health::{Status, Topic};
use candor_domain::identity::{InvalidValue, NameSet, UnknownName};
use candor_domain::language::Language;

use crate::error::AppResult;

fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// One of the wire enums (classification, origin, post type, …), whose own error names
/// the field.
pub fn word<T: FromStr<Err = InvalidValue>>(s: Option<&str>) -> AppResult<Option<T>> {
    Ok(given(s).map(str::parse).transpose()?)
}

/// An issue status, as Graph spells it (any case).
pub fn status(s: Option<&str>) -> AppResult<Option<Status>> {
    given(s)
        .map(|s| {
            s.parse()
                .map_err(|e: candor_domain::health::UnknownStatus| {
                    InvalidValue::new("status", e.to_string()).into()
                })
        })
        .transpose()
}

/// A language tag (en, nl, fr, zh-TW, ko) given as `field`.
pub fn language(field: &'static str, s: Option<&str>) -> AppResult<Option<Language>> {
    given(s)
        .map(|s| {
            s.parse()
                .map_err(|e: candor_domain::language::UnknownLanguage| {
                    InvalidValue::new(field, e.to_string()).into()
                })
        })
        .transpose()
}

/// A set of role names (a tenant's roles, an operator's), each one known.
pub fn roles<T>(names: &[String]) -> AppResult<NameSet<T>>
where
    T: Ord + Copy + FromStr<Err = UnknownName>,
{
    NameSet::parse_csv(&names.join(","))
        .map_err(|e| InvalidValue::new("roles", e.to_string()).into())
}

/// Subscription topics by name; a blank entry is ignored.
pub fn topics(names: &[String]) -> AppResult<BTreeSet<Topic>> {
    names
        .iter()
        .filter_map(|t| word::<Topic>(Some(t)).transpose())
        .collect()
}

/// A language that must be given.
pub fn required_language(field: &'static str, s: &str) -> AppResult<Language> {
    language(field, Some(s))?.ok_or_else(|| {
        InvalidValue::new(field, "choose a language: en, nl, fr, zh-TW or ko").into()
    })
}

/// Translations keyed by language tag.
pub fn translations<V>(by_tag: BTreeMap<String, V>) -> AppResult<BTreeMap<Language, V>> {
    by_tag
        .into_iter()
        .map(|(tag, text)| {
            let lang = language("translation", Some(&tag))?.ok_or_else(|| {
                InvalidValue::new("translation", "a translation needs a language tag")
            })?;
            Ok((lang, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use candor_domain::health::{Classification, PostType};

    #[test]
    fn blank_is_absent_and_a_word_is_read_in_any_case() {
        assert_eq!(status(Some("  ")).unwrap(), None);
        assert_eq!(status(None).unwrap(), None);
        assert_eq!(
            status(Some("ServiceRestored")).unwrap(),
            Some(Status::ServiceRestored)
        );
        assert_eq!(
            word::<Classification>(Some("incident")).unwrap(),
            Some(Classification::Incident)
        );
        assert_eq!(
            language("language", Some("zh-TW")).unwrap(),
            Some(Language::TraditionalChinese)
        );
    }

    #[test]
    fn an_unknown_word_is_invalid_and_names_its_field() {
        for (e, field) in [
            (status(Some("fine")).unwrap_err(), "status"),
            (word::<PostType>(Some("loud")).unwrap_err(), "post"),
            (language("language", Some("xx")).unwrap_err(), "language"),
            (
                translations([("xx".to_owned(), "t".to_owned())].into()).unwrap_err(),
                "translation",
            ),
        ] {
            assert!(matches!(e, AppError::Invalid(_)), "{e:?}");
            assert!(e.to_string().contains(field), "{e} names {field}");
        }
    }
}
