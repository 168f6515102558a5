//! The portal's words in five languages (Fluent files under `locales/`, embedded in the
//! binary), and times shown in the reader's time zone.

use std::collections::HashMap;

use candor_domain::language::Language;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};
use time::OffsetDateTime;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

fn lang_id(lang: Language) -> LanguageIdentifier {
    lang.tag().parse().unwrap_or_default()
}

/// A translator bound to one reader: their language and time zone.
#[derive(Debug, Clone)]
pub struct Tr {
    pub lang: Language,
    pub time_zone: String,
}

impl Tr {
    pub fn new(lang: Language, time_zone: impl Into<String>) -> Tr {
        Tr {
            lang,
            time_zone: time_zone.into(),
        }
    }

    /// The message `key`, falling back to English.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(&lang_id(self.lang), key)
    }

    /// The message `key` with one named argument.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        let mut args: HashMap<std::borrow::Cow<'static, str>, FluentValue<'_>> = HashMap::new();
        args.insert(name.to_owned().into(), FluentValue::from(value.to_owned()));
        LOCALES.lookup_with_args(&lang_id(self.lang), key, &args)
    }

    /// The message `key` with several named arguments.
    pub fn ta(&self, key: &str, args: &[(&str, String)]) -> String {
        let map: HashMap<std::borrow::Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(k, v)| ((*k).to_owned().into(), FluentValue::from(v.clone())))
            .collect();
        LOCALES.lookup_with_args(&lang_id(self.lang), key, &map)
    }

    /// A time in the reader's language and time zone, e.g. `Nov 22, 2026, 2:05 PM CET`,
    /// `22 nov 2026, 14:05 CET`, `2026年11月22日 下午9:05 CST`.
    pub fn time(&self, t: &OffsetDateTime) -> String {
        format_localized(*t, self.lang, &self.time_zone)
    }

    pub fn lang_tag(&self) -> &'static str {
        self.lang.tag()
    }
}

fn zoned(t: OffsetDateTime, zone: &str) -> Option<jiff::Zoned> {
    let micros = (t.unix_timestamp_nanos() / 1_000) as i64;
    let ts = jiff::Timestamp::from_microsecond(micros).ok()?;
    Some(ts.to_zoned(jiff::tz::TimeZone::get(zone).ok()?))
}

/// A time in `zone` in one format for every language, `2026-11-22 14:05 CET`: for logs,
/// files and anywhere a reader's language is not known.
pub fn format_in_zone(t: OffsetDateTime, zone: &str) -> String {
    match zoned(t, zone) {
        Some(z) => z.strftime("%Y-%m-%d %H:%M %Z").to_string(),
        None => candor_domain::time_util::rfc3339(t),
    }
}

fn locale(lang: Language) -> icu_locale_core::Locale {
    match lang {
        Language::English => icu_locale_core::locale!("en"),
        Language::Dutch => icu_locale_core::locale!("nl"),
        Language::French => icu_locale_core::locale!("fr"),
        Language::TraditionalChinese => icu_locale_core::locale!("zh-TW"),
        Language::Korean => icu_locale_core::locale!("ko"),
    }
}

type DateTimeFormatter = icu_datetime::DateTimeFormatter<icu_datetime::fieldsets::YMDT>;

thread_local! {
    // Building a formatter loads its patterns; keep one per language per thread.
    static FORMATTERS: std::cell::RefCell<HashMap<Language, Option<DateTimeFormatter>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The date and time as CLDR writes them in `lang` (medium date, hours and minutes, the
/// language's own clock), then the zone's abbreviation. Falls back to `format_in_zone`'s
/// form should a language's data ever be missing.
pub fn format_localized(t: OffsetDateTime, lang: Language, zone: &str) -> String {
    let Some(z) = zoned(t, zone) else {
        return candor_domain::time_util::rfc3339(t);
    };
    let local = icu_datetime::input::Date::try_new_iso(
        i32::from(z.year()),
        z.month().unsigned_abs(),
        z.day().unsigned_abs(),
    )
    .ok()
    .zip(
        icu_datetime::input::Time::try_new(
            z.hour().unsigned_abs(),
            z.minute().unsigned_abs(),
            0,
            0,
        )
        .ok(),
    )
    .map(|(date, time)| icu_datetime::input::DateTime { date, time });
    let text = local.and_then(|local| {
        FORMATTERS.with(|cache| {
            cache
                .borrow_mut()
                .entry(lang)
                .or_insert_with(|| {
                    let fields = icu_datetime::fieldsets::YMDT::medium()
                        .with_time_precision(icu_datetime::options::TimePrecision::Minute);
                    DateTimeFormatter::try_new(locale(lang).into(), fields).ok()
                })
                .as_ref()
                .map(|f| f.format(&local).to_string())
        })
    });
    match text {
        Some(text) => format!("{text} {}", z.strftime("%Z")),
        None => z.strftime("%Y-%m-%d %H:%M %Z").to_string(),
    }
}

/// Message ids of one locale's file, read straight from the embedded sources.
pub fn message_ids(source: &str) -> std::collections::BTreeSet<String> {
    source
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '\t', '.', '*', '[', '}']) && !l.trim().is_empty())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect()
}

pub const SOURCES: [(&str, &str); 5] = [
    ("en", include_str!("../locales/en/main.ftl")),
    ("nl", include_str!("../locales/nl/main.ftl")),
    ("fr", include_str!("../locales/fr/main.ftl")),
    ("zh-TW", include_str!("../locales/zh-TW/main.ftl")),
    ("ko", include_str!("../locales/ko/main.ftl")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locale_has_every_key_and_no_extra_ones() {
        let english = message_ids(SOURCES[0].1);
        assert!(
            english.len() > 50,
            "English has only {} messages",
            english.len()
        );
        for (tag, source) in SOURCES.iter().skip(1) {
            let ids = message_ids(source);
            let missing: Vec<_> = english.difference(&ids).collect();
            let extra: Vec<_> = ids.difference(&english).collect();
            assert!(missing.is_empty(), "{tag} is missing {missing:?}");
            assert!(extra.is_empty(), "{tag} has keys English lacks: {extra:?}");
        }
    }

    #[test]
    fn every_key_resolves_in_every_language() {
        for lang in Language::ALL {
            for id in message_ids(SOURCES[0].1) {
                let mut args: HashMap<std::borrow::Cow<'static, str>, FluentValue<'_>> =
                    HashMap::new();
                args.insert("name".into(), FluentValue::from("Ada"));
                args.insert("seconds".into(), FluentValue::from(12));
                args.insert("minutes".into(), FluentValue::from(30));
                args.insert("count".into(), FluentValue::from(3));
                for extra in [
                    "tenant",
                    "id",
                    "decision",
                    "start",
                    "end",
                    "number",
                    "url",
                    "time",
                    "until",
                    "title",
                    "due",
                    "link",
                    "cadence",
                    "service",
                    "days",
                    "before",
                    "date",
                    "impact",
                    "outage",
                    "degraded",
                    "maintenance",
                    "month",
                    "percent",
                ] {
                    args.insert(extra.into(), FluentValue::from("x"));
                }
                let text = LOCALES.lookup_with_args(&lang_id(lang), &id, &args);
                assert!(
                    !text.is_empty()
                        && !text.contains("Unknown localization")
                        && !text.contains('{'),
                    "{lang}: {id}: {text}"
                );
            }
        }
    }

    #[test]
    fn translations_differ_from_english() {
        let en = Tr::new(Language::English, "UTC");
        for lang in Language::ALL.into_iter().skip(1) {
            let tr = Tr::new(lang, "UTC");
            assert_ne!(tr.t("signin-title"), en.t("signin-title"), "{lang}");
        }
    }

    #[test]
    fn times_are_written_as_each_language_writes_them() {
        let t = time::macros::datetime!(2026-11-22 13:05 UTC);
        let shown = |lang, zone| Tr::new(lang, zone).time(&t);
        for (lang, zone, expected) in [
            (
                Language::English,
                "Europe/Amsterdam",
                "Nov 22, 2026, 2:05\u{202f}PM CET",
            ),
            (
                Language::Dutch,
                "Europe/Amsterdam",
                "22 nov 2026, 14:05 CET",
            ),
            (Language::French, "Europe/Paris", "22 nov. 2026, 14:05 CET"),
            (
                Language::TraditionalChinese,
                "Asia/Taipei",
                "2026年11月22日 晚上9:05 CST",
            ),
            (Language::Korean, "Asia/Seoul", "2026/11/22 오후 10:05 KST"),
        ] {
            assert_eq!(shown(lang, zone), expected, "{lang}");
        }
        // Every language differs from every other, and none is the one-format fallback.
        let all: std::collections::BTreeSet<String> =
            Language::ALL.into_iter().map(|l| shown(l, "UTC")).collect();
        assert_eq!(all.len(), Language::ALL.len(), "{all:?}");
        assert!(all.iter().all(|s| !s.starts_with("2026-11-22")), "{all:?}");
    }

    #[test]
    fn times_are_shown_in_the_readers_zone() {
        let t = time::macros::datetime!(2026-11-22 13:05 UTC);
        assert_eq!(format_in_zone(t, "Asia/Taipei"), "2026-11-22 21:05 CST");
        // An unknown zone still shows the time, in UTC.
        let unknown = Tr::new(Language::Dutch, "Mars/Olympus").time(&t);
        assert_eq!(unknown, "2026-11-22T13:05:00.000000Z");
        assert_eq!(
            format_in_zone(t, "Europe/Amsterdam"),
            "2026-11-22 14:05 CET"
        );
    }
}
