//! Bounded texts: the names, reasons and notes whose limits the domain, the app and the import
//! share. Each is a type built through `TryFrom<String>`, so a value of it is within its limit
//! and the limit is written once.

use std::fmt;

use super::Violations;

/// Why a text is not a value of its type. The words are those a caller reads after the field's
/// name (`display_name: must not be empty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// A required text is empty or only white space.
    Empty,
    /// Longer than the type allows.
    TooLong {
        /// The most characters the type holds.
        max: usize,
        /// The characters the text has.
        got: usize,
    },
    /// A control character other than a line break or a tab.
    ControlCharacter,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Empty => write!(f, "must not be empty"),
            TextError::TooLong { max, got } => {
                write!(f, "must be at most {max} characters, got {got}")
            }
            TextError::ControlCharacter => write!(f, "must not contain control characters"),
        }
    }
}

impl std::error::Error for TextError {}

impl TextError {
    /// The kind of problem, for the error's reason.
    pub fn problem(self) -> super::Problem {
        match self {
            TextError::Empty => super::Problem::MissingField,
            TextError::TooLong { .. } => super::Problem::TextTooLong,
            TextError::ControlCharacter => super::Problem::BadText,
        }
    }
}

/// The rule every human-readable text follows: not blank when `required`, at most `max`
/// characters, no control characters but line breaks and tabs. The first broken rule is the one
/// reported.
pub fn check(value: &str, max: usize, required: bool) -> Result<(), TextError> {
    let chars = value.chars().count();
    if required && value.trim().is_empty() {
        Err(TextError::Empty)
    } else if chars > max {
        Err(TextError::TooLong { max, got: chars })
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        Err(TextError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// A text type of at most `$max` characters, required (not blank) or not. The text is kept as
/// given: callers that store it trimmed trim it themselves.
macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, max $max:literal, required $required:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The most characters a value holds.
            pub const MAX: usize = $max;

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text without leading and trailing white space, still a value: shorter, and
            /// a required text was not blank.
            pub fn trimmed(self) -> Self {
                Self(self.0.trim().to_string())
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;

            fn try_from(value: String) -> Result<Self, TextError> {
                check(&value, Self::MAX, $required)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

bounded_text! {
    /// A name people read: of a deal, a contact, a user, a token, a pipeline or a stage.
    DisplayName, max 200, required true
}

bounded_text! {
    /// The account (the buying company) a deal is with.
    AccountName, max 200, required true
}

bounded_text! {
    /// Why a deal was lost, in the rep's words.
    LossReason, max 500, required true
}

bounded_text! {
    /// Free text a person writes about a deal or a stage (BANT notes, buyer evidence, call
    /// notes, approval comments); may be empty.
    Note, max 2000, required false
}

impl Violations {
    /// `value` as a `T`; when it is not one, why is recorded under `field` and there is none.
    pub fn text<T: TryFrom<String, Error = TextError>>(
        &mut self,
        field: &str,
        value: &str,
    ) -> Option<T> {
        T::try_from(value.to_string())
            .map_err(|why| self.add_as(why.problem(), field, why.to_string()))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_name_longer_than_200_characters_is_rejected() {
        assert!(DisplayName::try_from("é".repeat(200)).is_ok());
        assert_eq!(
            DisplayName::try_from("é".repeat(201)),
            Err(TextError::TooLong { max: 200, got: 201 })
        );
    }

    #[test]
    fn a_display_name_trimmed_keeps_its_text_without_the_outer_white_space() {
        let name = DisplayName::try_from(format!(" {}\t", "é".repeat(198))).unwrap();
        assert_eq!(name.trimmed().as_str(), "é".repeat(198));
    }

    #[test]
    fn a_blank_required_text_is_rejected_and_a_blank_note_is_not() {
        assert_eq!(
            LossReason::try_from("  ".to_string()),
            Err(TextError::Empty)
        );
        assert!(Note::try_from(String::new()).is_ok());
    }

    #[test]
    fn control_characters_other_than_line_breaks_and_tabs_are_rejected() {
        assert!(Note::try_from("a\n\tb".to_string()).is_ok());
        assert_eq!(
            Note::try_from("a\u{7}b".to_string()),
            Err(TextError::ControlCharacter)
        );
    }

    #[test]
    fn a_violation_says_what_the_field_check_always_said() {
        let mut v = Violations::new();
        assert_eq!(v.text::<AccountName>("account", ""), None);
        assert_eq!(v.text::<LossReason>("loss_reason", &"x".repeat(501)), None);
        assert_eq!(
            v.to_string(),
            "account: must not be empty; loss_reason: must be at most 500 characters, got 501"
        );
    }
}
