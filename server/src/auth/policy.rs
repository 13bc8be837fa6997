//! Which new passwords are refused: shorter than [`MIN_CHARS`] characters, longer than
//! [`MAX_CHARS`], or among the commonest (`server/assets/common-passwords.txt`, compared without
//! regard to case, also after removing digits and punctuation at the end, so "Welkom2024!" counts
//! as "welkom"), or made of fewer than four different characters.
//!
//! The length is what makes guessing slow; the list catches the passwords every guesser tries
//! first. Checked where a password is chosen: enrollment and `vertel-server member add`.

use std::collections::HashSet;
use std::sync::OnceLock;

pub const MIN_CHARS: usize = 10;
/// argon2 hashes any length, but nobody types more; a bound keeps the work per request bounded.
pub const MAX_CHARS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("a password needs at least 10 characters")]
    TooShort,
    #[error("a password may have at most 1024 characters")]
    TooLong,
    #[error("this password is too common; choose another")]
    TooCommon,
}

impl PasswordProblem {
    /// A stable code for clients, which show their own text in Dutch or English.
    pub fn code(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "password-too-short",
            PasswordProblem::TooLong => "password-too-long",
            PasswordProblem::TooCommon => "password-too-common",
        }
    }
}

fn common() -> &'static HashSet<String> {
    static COMMON: OnceLock<HashSet<String>> = OnceLock::new();
    COMMON.get_or_init(|| {
        include_str!("../../assets/common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// Whether `password` may be chosen.
pub fn check(password: &str) -> Result<(), PasswordProblem> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let distinct: HashSet<char> = lower.chars().collect();
    if common().contains(&lower)
        || (!stem.is_empty() && common().contains(stem))
        || distinct.len() < 4
    {
        return Err(PasswordProblem::TooCommon);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 14 of issue 10: `12345678` was accepted.
    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(check("12345678"), Err(PasswordProblem::TooShort));
        assert_eq!(check("Zk3#pq9!x"), Err(PasswordProblem::TooShort));
        // Characters, not bytes: ten letters with accents are long enough.
        assert_eq!(check("ééééàààçxy"), Ok(()));
        assert_eq!(
            check(&"x".repeat(MAX_CHARS + 1)),
            Err(PasswordProblem::TooLong)
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case_and_suffix() {
        for pw in [
            "1234567890",
            "qwertyuiop",
            "Wachtwoord",
            "WACHTWOORD123",
            "wachtwoord-123",
            "Welkom2024!",
            "welkom0101",
            "Password123!",
            "voetbal12345",
            "Feyenoord1908",
            "aaaaaaaaaaaa",
            "abababababab",
        ] {
            assert_eq!(check(pw), Err(PasswordProblem::TooCommon), "{pw}");
        }
    }

    #[test]
    fn ordinary_long_passwords_pass() {
        for pw in [
            "mijn-eigen-wachtwoord",
            "vertel-demo-2026",
            "wachtwoord-e2e-123",
            "fietsbel op dinsdag",
            "Zk3#pq9!xL",
        ] {
            assert_eq!(check(pw), Ok(()), "{pw}");
        }
    }

    #[test]
    fn the_list_is_loaded_and_lowercase() {
        assert!(common().len() > 250);
        assert!(common().contains("wachtwoord"));
        assert!(common().iter().all(|p| *p == p.to_lowercase()));
    }
}
