//! Validated values. Constructing one is the only way to get one, so code that holds a
//! `EmailAddress` never re-checks it.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub problem: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

macro_rules! text_value {
    ($name:ident) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For values read back from storage, which were validated on the way in.
            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_value!(TenantName);
text_value!(DisplayName);
text_value!(EmailAddress);
text_value!(RegionCode);
text_value!(TimeZoneName);

fn no_control_chars(field: &'static str, s: &str) -> Result<(), InvalidValue> {
    if s.chars().any(char::is_control) {
        return Err(InvalidValue::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl TenantName {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        if s.is_empty() {
            return Err(InvalidValue::new("name", "must not be empty"));
        }
        if s.chars().count() > 120 {
            return Err(InvalidValue::new("name", "must be at most 120 characters"));
        }
        no_control_chars("name", s)?;
        Ok(Self(s.to_owned()))
    }
}

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        if s.is_empty() {
            return Err(InvalidValue::new("display name", "must not be empty"));
        }
        if s.chars().count() > 120 {
            return Err(InvalidValue::new(
                "display name",
                "must be at most 120 characters",
            ));
        }
        no_control_chars("display name", s)?;
        Ok(Self(s.to_owned()))
    }
}

impl EmailAddress {
    /// A pragmatic check: one `@`, a non-empty local part, a dotted domain, no spaces.
    /// Stored lower-cased so sign-in is case-insensitive.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let problem = || {
            InvalidValue::new(
                "email",
                format!(
                    "`{}` is not an email address like name@example.com",
                    s.chars().take(80).collect::<String>()
                ),
            )
        };
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(problem());
        }
        let (local, domain) = s.split_once('@').ok_or_else(problem)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(problem());
        }
        Ok(Self(s.to_lowercase()))
    }
}

impl RegionCode {
    /// Region codes are short lowercase slugs such as `eu-west` or `apac1`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if !ok {
            return Err(InvalidValue::new(
                "region",
                format!(
                    "`{}` is not a region code (lowercase letters, digits and '-', such as eu-west)",
                    s.chars().take(40).collect::<String>()
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for RegionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl TimeZoneName {
    /// An IANA time zone name known to the bundled time zone database.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        if s.is_empty() || jiff::tz::TimeZone::get(s).is_err() {
            return Err(InvalidValue::new(
                "time zone",
                format!(
                    "`{}` is not an IANA time zone such as Europe/Amsterdam or Asia/Taipei",
                    s.chars().take(60).collect::<String>()
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn utc() -> Self {
        Self("UTC".to_owned())
    }
}

/// Minimum length of a password chosen by a person.
pub const MIN_PASSWORD_LENGTH: usize = 12;

pub fn check_password_policy(password: &str) -> Result<(), InvalidValue> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(InvalidValue::new(
            "password",
            format!("must be at least {MIN_PASSWORD_LENGTH} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(InvalidValue::new("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            EmailAddress::parse(" Ada@Contoso.Example ")
                .unwrap()
                .as_str(),
            "ada@contoso.example"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a b@x.com",
            "a@b",
            "a@b@c.com",
            "a@.com",
            "a@x..com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn time_zones_come_from_the_iana_database() {
        assert!(TimeZoneName::parse("Asia/Taipei").is_ok());
        assert!(TimeZoneName::parse("Europe/Amsterdam").is_ok());
        let err = TimeZoneName::parse("Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"));
    }

    #[test]
    fn region_codes_are_slugs() {
        assert!(RegionCode::parse("eu-west").is_ok());
        assert!(RegionCode::parse("EU West").is_err());
        assert!(RegionCode::parse("-x").is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("a-long-enough-passphrase").is_ok());
    }

    #[test]
    fn names_refuse_control_characters() {
        assert!(TenantName::parse("Contoso\u{7}").is_err());
        assert!(TenantName::parse("  ").is_err());
        assert_eq!(TenantName::parse(" Contoso ").unwrap().as_str(), "Contoso");
    }
}
