//! Passwords, tokens, enrollment codes and the login rate limit.
//!
//! Passwords are hashed with argon2id. Tokens and enrollment codes are random; only their SHA-256
//! is stored, so a copy of the database does not let anyone log in.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt: [u8; 16] = rand::random();
    let hash: PasswordHash = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hash: {e}"))?;
    Ok(hash.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A verification that costs as much as a real one, for unknown e-mail addresses, so response
/// times do not reveal who has an account.
pub fn burn_verification(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// A new random bearer token (256 bits, URL-safe).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time enrollment code: short enough to type from a printout, in groups of four.
pub fn new_enrollment_code() -> String {
    // No 0/O, 1/I/L: people read these aloud.
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Limits failed logins per key (an e-mail address, and separately a client address): at most
/// `max_failures` in a sliding `window`.
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether another attempt for `key` is allowed now.
    pub fn allowed(&self, key: &str, now: Instant) -> bool {
        let Ok(mut map) = self.failures.lock() else {
            return false;
        };
        let list = map.entry(key.to_string()).or_default();
        list.retain(|t| now.duration_since(*t) < self.window);
        list.len() < self.max_failures
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        if let Ok(mut map) = self.failures.lock() {
            if map.len() > 100_000 {
                // Bound memory under a spray of distinct keys: forget everything old.
                let window = self.window;
                map.retain(|_, v| v.iter().any(|t| now.duration_since(*t) < window));
            }
            map.entry(key.to_string()).or_default().push(now);
        }
    }

    pub fn clear(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("geheim wachtwoord").unwrap();
        assert!(verify_password("geheim wachtwoord", &h));
        assert!(!verify_password("geheim", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn the_limiter_blocks_after_the_maximum_and_forgets_after_the_window() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.allowed("a@x", t0));
            l.record_failure("a@x", t0);
        }
        assert!(!l.allowed("a@x", t0));
        assert!(l.allowed("b@x", t0));
        assert!(l.allowed("a@x", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn enrollment_codes_are_readable_and_normalise() {
        let c = new_enrollment_code();
        assert_eq!(c.len(), 14);
        assert_eq!(normalise_code(&c.to_lowercase()), c.replace('-', ""));
    }
}
