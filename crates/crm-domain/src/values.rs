//! Value types parsed once at the edge: after `parse` succeeds the value is trusted.
//! Each returns the normalised form that is stored and compared.

use validator::{ValidateEmail, ValidateUrl};

/// Why a value was rejected: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { code, message: message.into() }
}

/// An email address, trimmed and lower-cased.
pub fn parse_email(raw: &str) -> Result<String, Invalid> {
    let email = raw.trim().to_lowercase();
    if raw.chars().count() > 254 || email.len() > 254 {
        return Err(invalid("too_long", "must be at most 254 characters"));
    }
    if !email.validate_email() {
        return Err(invalid("invalid_format", "must be a valid email address"));
    }
    Ok(email)
}

/// A phone number in E.164 (`+` and 8–15 digits). Spaces, dashes, dots and parentheses
/// that people type are removed; anything else is an error rather than a guess.
pub fn parse_phone(raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > 32 {
        return Err(invalid("too_long", "must be at most 32 characters"));
    }
    let compact: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = compact
        .strip_prefix('+')
        .ok_or_else(|| invalid("invalid_format", "must be in E.164 format with country code, e.g. +380441234567"))?;
    let ok = (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    if ok {
        Ok(compact)
    } else {
        Err(invalid("invalid_format", "must be in E.164 format: + followed by 8 to 15 digits, e.g. +380441234567"))
    }
}

/// An ISO 3166-1 alpha-2 country code (two letters, any case), upper-cased.
pub fn parse_country(raw: &str) -> Result<String, Invalid> {
    let code = raw.to_ascii_uppercase();
    let known = code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && isocountry::CountryCode::for_alpha2(&code).is_ok();
    if known { Ok(code) } else { Err(invalid("invalid_value", "must be an ISO 3166-1 alpha-2 country code, e.g. UA")) }
}

/// An absolute http(s) URL.
pub fn parse_website(raw: &str) -> Result<String, Invalid> {
    let url = raw.trim().to_owned();
    if url.len() > 2048 {
        return Err(invalid("too_long", "must be at most 2048 characters"));
    }
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if scheme_ok && url.validate_url() {
        Ok(url)
    } else {
        Err(invalid("invalid_format", "must be an absolute http or https URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(parse_email("  Olena.K@Example.COM ").as_deref(), Ok("olena.k@example.com"));
    }

    #[test]
    fn bad_emails_are_rejected() {
        for raw in ["", "plain", "a@", "@b.com", "a b@c.com", "a@b@c.com", "a\0@b.com"] {
            assert!(parse_email(raw).is_err(), "{raw:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(parse_email(&long).map_err(|e| e.code), Err("too_long"));
    }

    #[test]
    fn phone_accepts_typed_separators() {
        assert_eq!(parse_phone("+380 (44) 123-45-67").as_deref(), Ok("+380441234567"));
        assert_eq!(parse_phone("+1.415.555.2671").as_deref(), Ok("+14155552671"));
    }

    #[test]
    fn phone_rejects_what_is_not_e164() {
        for raw in ["0441234567", "+0441234567", "+12", "+1234567890123456", "+38044abc4567", "", "+"] {
            assert!(parse_phone(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn country_codes() {
        assert_eq!(parse_country("UA").as_deref(), Ok("UA"));
        assert_eq!(parse_country("EE").as_deref(), Ok("EE"));
        assert_eq!(parse_country("ua").as_deref(), Ok("UA"));
        assert!(parse_country(" UA").is_err());
        assert!(parse_country("XX").is_err());
        assert!(parse_country("UKR").is_err());
        assert!(parse_country("").is_err());
    }

    #[test]
    fn websites() {
        assert!(parse_website("https://example.com/about").is_ok());
        assert!(parse_website("ftp://example.com").is_err());
        assert!(parse_website("example.com").is_err());
        assert!(parse_website("javascript:alert(1)").is_err());
    }
}
