//! Time helpers shared by every layer.

use time::OffsetDateTime;

/// Both databases keep microseconds; truncating before anything is hashed or compared
/// means a value read back equals the value written.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

pub fn to_unix_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_unix_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 with microseconds, always in UTC: the one textual form of a time in
/// canonical encodings, CSV and JSON exports.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// Parses either an RFC 3339 time or a plain date (taken as midnight UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &date_fmt)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn micros_round_trip() {
        let t = datetime!(2026-11-22 10:11:12.123456789 UTC);
        let tr = truncate_to_micros(t);
        assert_eq!(from_unix_micros(to_unix_micros(t)), tr);
        assert_eq!(rfc3339(tr), "2026-11-22T10:11:12.123456Z");
    }

    #[test]
    fn parses_dates_and_times() {
        assert_eq!(
            parse_time("2026-11-01"),
            Some(datetime!(2026-11-01 0:00 UTC))
        );
        assert_eq!(
            parse_time("2026-11-01T05:00:00+01:00"),
            Some(datetime!(2026-11-01 4:00 UTC))
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
