//! The WorkMail directory password policy. Spec: workmail.md §2.14, §6.
//!
//! A password is at least 8 and fewer than 64 characters, uses only Basic Latin or Latin-1
//! Supplement characters, and has characters from at least 3 of 5 classes: uppercase,
//! lowercase, digits, special characters, Latin-1 Supplement letters. The policy of a WorkMail
//! directory cannot be changed, so it is a constant here.

/// Minimum length in characters.
pub const MIN_LENGTH: usize = 8;
/// Lengths must be strictly below this.
pub const MAX_LENGTH_EXCLUSIVE: usize = 64;
/// Number of character classes a password must draw from.
pub const REQUIRED_CLASSES: usize = 3;

/// Why a password is refused; the text is safe to return (it never contains the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_LENGTH`] characters.
    TooShort,
    /// [`MAX_LENGTH_EXCLUSIVE`] characters or more.
    TooLong,
    /// A character outside Basic Latin and Latin-1 Supplement, or a control character.
    DisallowedCharacter,
    /// Characters from fewer than [`REQUIRED_CLASSES`] classes.
    TooFewClasses,
}

impl std::fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordProblem::TooShort => {
                write!(f, "Password must be at least {MIN_LENGTH} characters long")
            }
            PasswordProblem::TooLong => write!(
                f,
                "Password must be fewer than {MAX_LENGTH_EXCLUSIVE} characters long"
            ),
            PasswordProblem::DisallowedCharacter => write!(
                f,
                "Password may contain only Basic Latin and Latin-1 Supplement characters"
            ),
            PasswordProblem::TooFewClasses => write!(
                f,
                "Password must contain characters from {REQUIRED_CLASSES} of these classes: \
                 uppercase letters, lowercase letters, digits, special characters, \
                 Latin-1 Supplement characters"
            ),
        }
    }
}

/// The class of `c`, or `None` when `c` is not allowed in a password at all.
fn class_of(c: char) -> Option<usize> {
    match c {
        'A'..='Z' => Some(0),
        'a'..='z' => Some(1),
        '0'..='9' => Some(2),
        // Printable Basic Latin punctuation and the space.
        ' '..='~' => Some(3),
        // Latin-1 Supplement without its C1 control block (U+0080–U+009F).
        '\u{00A0}'..='\u{00FF}' => Some(4),
        _ => None,
    }
}

/// Checks `password` against the policy.
pub fn check(password: &str) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordProblem::TooShort);
    }
    if length >= MAX_LENGTH_EXCLUSIVE {
        return Err(PasswordProblem::TooLong);
    }
    let mut seen = [false; 5];
    for c in password.chars() {
        seen[class_of(c).ok_or(PasswordProblem::DisallowedCharacter)?] = true;
    }
    if seen.iter().filter(|s| **s).count() < REQUIRED_CLASSES {
        return Err(PasswordProblem::TooFewClasses);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_three_of_five_classes() {
        assert_eq!(check("Abcdefg1"), Ok(()));
        assert_eq!(check("abcdefg1!"), Ok(()));
        assert_eq!(check("ABCDEFG!1"), Ok(()));
        assert_eq!(check("abcdéfgh1"), Ok(()));
        assert_eq!(check("pass word 1"), Ok(()));
    }

    #[test]
    fn length_bounds_are_8_inclusive_and_64_exclusive() {
        assert_eq!(check("Abcde1!"), Err(PasswordProblem::TooShort));
        let max = format!("Aa1{}", "x".repeat(60));
        assert_eq!(max.chars().count(), 63);
        assert_eq!(check(&max), Ok(()));
        let over = format!("{max}x");
        assert_eq!(check(&over), Err(PasswordProblem::TooLong));
        // Length counts characters, not bytes: 8 two-byte characters are enough.
        assert_eq!(check("éa1éa1éa"), Ok(()));
    }

    #[test]
    fn refuses_two_classes_and_foreign_characters() {
        assert_eq!(check("abcdefgh1"), Err(PasswordProblem::TooFewClasses));
        assert_eq!(check("ABCDEFGHI"), Err(PasswordProblem::TooFewClasses));
        assert_eq!(
            check("Abcdefg1€"),
            Err(PasswordProblem::DisallowedCharacter)
        );
        assert_eq!(
            check("Abcdefg1\t"),
            Err(PasswordProblem::DisallowedCharacter)
        );
        assert_eq!(
            check("Abcdefg1\u{0085}"),
            Err(PasswordProblem::DisallowedCharacter)
        );
    }
}
