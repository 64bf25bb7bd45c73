//! Field-level validation errors, collected rather than failing on the first.

use serde::Serialize;
use utoipa::ToSchema;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `address.country` or `tags[2]`.
    #[schema(example = "email")]
    pub field: String,
    /// Stable machine code, e.g. `invalid_format`, `too_long`, `required`.
    #[schema(example = "invalid_format")]
    pub code: String,
    /// Human-readable explanation.
    #[schema(example = "must be a valid email address")]
    pub message: String,
}

/// All problems found in one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), code: code.to_owned(), message: message.into() });
    }

    pub fn single(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, code, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    /// Checks an optional string's length in characters as sent (so the limit is the one the
    /// schema declares), then trims it and turns blank into `None`.
    pub fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        let value = value?;
        self.check_len(field, &value, max);
        Some(value.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// Records `too_long` or `invalid_characters` (see [`check_chars`](Self::check_chars)).
    pub fn check_len(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, "too_long", format!("must be at most {max} characters"));
        }
        self.check_chars(field, value);
    }

    /// Records `invalid_characters` for a control character other than tab and the line breaks
    /// (a form's textarea sends CRLF): what [`TEXT_PATTERN`] publishes. Says whether there was none.
    pub fn check_chars(&mut self, field: &str, value: &str) -> bool {
        let clean = !value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
        if !clean {
            self.add(field, "invalid_characters", "must not contain control characters");
        }
        clean
    }
}

/// The free-text rule of [`ValidationErrors::check_chars`] as a JSON Schema `pattern` (no
/// Unicode `Cc` character but tab, LF and CR), which the spec gives every free-text field.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |e: &FieldError| {
            if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) }
        };
        let parts: Vec<String> = self.0.iter().map(part).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_blanks_become_none() {
        let mut errors = ValidationErrors::default();
        assert_eq!(errors.text("a", Some("  x ".into()), 5), Some("x".into()));
        assert_eq!(errors.text("a", Some("   ".into()), 5), None);
        assert_eq!(errors.text("a", None, 5), None);
        assert!(errors.is_empty());
    }

    #[test]
    fn length_is_checked_before_trimming() {
        let mut errors = ValidationErrors::default();
        assert_eq!(errors.text("a", Some(" ".repeat(6)), 5), None);
        assert_eq!(errors.0[0].code, "too_long");
    }

    #[test]
    fn text_rejects_long_values_and_nul() {
        let mut errors = ValidationErrors::default();
        errors.text("name", Some("abcdef".into()), 5);
        errors.text("nick", Some("a\0b".into()), 5);
        let codes: Vec<_> = errors.0.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(codes, [("name", "too_long"), ("nick", "invalid_characters")]);
    }

    #[test]
    fn text_pattern_takes_what_check_chars_takes() {
        let Ok(pattern) = regex::Regex::new(TEXT_PATTERN) else { panic!("{TEXT_PATTERN} is not a regex") };
        let probes = (0..0x3000).chain([0xFEFF, 0x1F600, 0x10FFFF]).filter_map(char::from_u32);
        for c in probes {
            let mut errors = ValidationErrors::default();
            errors.check_chars("f", &format!("a{c}b"));
            assert_eq!(pattern.is_match(&format!("a{c}b")), errors.is_empty(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut errors = ValidationErrors::default();
        errors.check_len("name", "Юлія", 4);
        assert!(errors.is_empty());
    }
}
