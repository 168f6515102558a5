//! The five languages of the product (the seeds' languages plus English).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub enum Language {
    #[default]
    #[serde(rename = "en")]
    English,
    #[serde(rename = "nl")]
    Dutch,
    #[serde(rename = "fr")]
    French,
    #[serde(rename = "zh-TW")]
    TraditionalChinese,
    #[serde(rename = "ko")]
    Korean,
}

impl Language {
    pub const ALL: [Language; 5] = [
        Language::English,
        Language::Dutch,
        Language::French,
        Language::TraditionalChinese,
        Language::Korean,
    ];

    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Dutch => "nl",
            Language::French => "fr",
            Language::TraditionalChinese => "zh-TW",
            Language::Korean => "ko",
        }
    }

    /// The language's name in itself, for the language switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::Dutch => "Nederlands",
            Language::French => "Français",
            Language::TraditionalChinese => "繁體中文",
            Language::Korean => "한국어",
        }
    }

    /// Picks the first supported language from an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Option<Language> {
        let mut tags: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((q, tag))
            })
            .collect();
        tags.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        tags.into_iter().find_map(|(_, tag)| tag.parse().ok())
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a supported language; use one of en, nl, fr, zh-TW, ko")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase().replace('_', "-");
        match lower.as_str() {
            "en" | "en-us" | "en-gb" => Ok(Language::English),
            "nl" | "nl-nl" | "nl-be" => Ok(Language::Dutch),
            "fr" | "fr-fr" | "fr-be" | "fr-ca" | "fr-ch" => Ok(Language::French),
            "zh-tw" | "zh-hant" | "zh-hant-tw" | "zh-hk" => Ok(Language::TraditionalChinese),
            "ko" | "ko-kr" => Ok(Language::Korean),
            _ => Err(UnknownLanguage(s.chars().take(32).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        for l in Language::ALL {
            assert_eq!(l.tag().parse::<Language>(), Ok(l));
        }
    }

    #[test]
    fn accept_language_prefers_highest_quality_supported() {
        assert_eq!(
            Language::from_accept_language("de-DE,de;q=0.9,fr;q=0.8,en;q=0.5"),
            Some(Language::French)
        );
        assert_eq!(
            Language::from_accept_language("zh-TW"),
            Some(Language::TraditionalChinese)
        );
        assert_eq!(Language::from_accept_language("de"), None);
    }
}
