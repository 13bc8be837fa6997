//! Passwords, tokens, enrollment codes, and what stands between a flood of logins and the CPU.
//!
//! Passwords are hashed with argon2id. Tokens and enrollment codes are random; only their SHA-256
//! is stored, so a copy of the database does not let anyone log in.
//!
//! The design decision: **every password check costs the same, and only so many run at once.**
//! argon2 takes 19 MiB and tens of milliseconds per check, on purpose. [`PasswordWork`] runs every
//! hash and verification of the server behind one semaphore (`--password-hash-concurrency`) with
//! a bounded queue (`--password-hash-queue`, beyond which callers are told to come back), and a
//! login runs exactly one verification whatever the address: unknown, not yet enrolled, disabled
//! or known. [`limits`] decides who may try at all; [`policy`] which new passwords are too weak.

pub mod limits;
pub mod policy;

use crate::db::accounts::{Member, MemberAuth};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use clap::Args;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// argon2's working memory (19 MiB with the default parameters). The server keeps one per
/// concurrent check and reuses it: argon2's own allocation per check left every blocking thread's
/// malloc arena holding 19 MiB after the check was done (BENCHMARKS.md, "Login flood").
type Memory = Vec<Block>;

fn blocks<'m>(memory: &'m mut Memory, params: &Params) -> &'m mut [Block] {
    let n = params.block_count();
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

fn hash_with(password: &str, memory: &mut Memory) -> anyhow::Result<String> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, &params),
        )
        .map_err(|e| anyhow::anyhow!("hash: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("hash: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("hash: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("hash: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Verify with the parameters the stored hash names (so hashes made with other parameters still
/// verify). The comparison is constant-time (`Output`'s equality).
fn verify_with(password: &str, hash: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            blocks(memory, &params),
        )
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Hash a new password (argon2id, default parameters) with memory of its own. The server hashes
/// through [`PasswordWork`]; this is for the command line.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    hash_with(password, &mut Memory::new())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_with(password, hash, &mut Memory::new())
}

/// `vertel-server serve` flags for password checks and client addresses.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Password hashes and verifications (argon2, 19 MiB each) that run at once
    /// [default: the number of CPUs].
    #[arg(long, env = "VERTEL_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,
    /// Logins and enrollments that may wait for a password check; beyond this they are answered
    /// 503 with Retry-After at once.
    #[arg(long, env = "VERTEL_PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,
    /// Take the client address for login limits from the last `X-Forwarded-For` entry. Set this
    /// only behind exactly one reverse proxy that appends the address it saw; otherwise anyone
    /// could claim any address.
    #[arg(long, env = "VERTEL_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
}

/// Too many password checks are waiting already.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks waiting")]
pub struct Busy;

/// Every argon2 hash and verification of the server, behind one semaphore with a bounded queue.
pub struct PasswordWork {
    permits: Arc<Semaphore>,
    /// argon2 memory, one per check running; at most `--password-hash-concurrency` of them.
    memory: Arc<Mutex<Vec<Memory>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// A hash of a password nobody has, with the same parameters as real ones: verified when the
    /// address has no password to check, so that path costs what a real check costs.
    dummy_hash: String,
    verifications: AtomicU64,
}

/// Decrements the waiting count however the wait ends (granted, or the request dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordWork {
    pub fn new(concurrency: usize, max_waiting: usize) -> anyhow::Result<PasswordWork> {
        Ok(PasswordWork {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::new(Mutex::new(Vec::new())),
            waiting: AtomicUsize::new(0),
            max_waiting,
            dummy_hash: hash_password(&new_token())?,
            verifications: AtomicU64::new(0),
        })
    }

    pub fn from_args(args: &AuthArgs) -> anyhow::Result<PasswordWork> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordWork::new(
            args.password_hash_concurrency.unwrap_or(cpus),
            args.password_hash_queue,
        )
    }

    /// Run `work` on a blocking thread once a permit is free, with argon2 memory of its own. The
    /// permit is held until the work is done, even if the caller stops waiting (a client that
    /// hangs up does not let another check start while argon2 still runs).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(Busy);
                }
                let _waiting = Waiting(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Busy)?
            }
        };
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut memory = pool
                .lock()
                .ok()
                .and_then(|mut p| p.pop())
                .unwrap_or_default();
            let out = work(&mut memory);
            if let Ok(mut p) = pool.lock() {
                p.push(memory);
            }
            out
        })
        .await
        .map_err(|_| Busy)
    }

    /// Verify `password` against `hash`, or against a dummy hash when there is none (an unknown
    /// address, a member who has not enrolled yet, a disabled member): exactly one argon2
    /// verification with the same parameters on every path. True only for a real hash that
    /// matches.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let dummy = self.dummy_hash.clone();
        let ok = self
            .run(move |memory| match hash {
                Some(h) => verify_with(&password, &h, memory),
                None => {
                    let _ = verify_with(&password, &dummy, memory);
                    false
                }
            })
            .await?;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        Ok(ok)
    }

    pub async fn hash(&self, password: String) -> Result<anyhow::Result<String>, Busy> {
        self.run(move |memory| hash_with(&password, memory)).await
    }

    /// Verifications done so far (tests count them per login).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

/// Check a login: one verification, whatever `found` is. The member when the password is right
/// and the member may log in.
pub async fn check_login(
    work: &PasswordWork,
    found: Option<MemberAuth>,
    password: String,
) -> Result<Option<Member>, Busy> {
    let (member, hash) = match found {
        Some(m) if !m.disabled => (Some(m.member), m.password_hash),
        _ => (None, None),
    };
    let ok = work.verify(password, hash).await?;
    Ok(member.filter(|_| ok))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::accounts::Role;

    #[test]
    fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("geheim wachtwoord").unwrap();
        assert!(verify_password("geheim wachtwoord", &h));
        assert!(!verify_password("geheim", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    /// Stored hashes were made by the argon2 crate's own hasher; ours must read them, and it must
    /// read ours (a downgrade, another tool).
    #[test]
    fn hashes_are_the_argon2_crates_own_format() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password_with_salt(b"geheim wachtwoord", &[7u8; 16])
            .unwrap()
            .to_string();
        assert!(verify_password("geheim wachtwoord", &theirs));
        assert!(!verify_password("geheim wachtwoorD", &theirs));
        let ours = hash_password("geheim wachtwoord").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"geheim wachtwoord", &parsed)
                .is_ok()
        );
        // Other parameters (a cheaper hash from an older release) still verify.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"ander wachtwoord", &[9u8; 16])
        .unwrap()
        .to_string();
        assert!(verify_password("ander wachtwoord", &cheap));
    }

    fn member(role: Role) -> Member {
        Member {
            id: 1,
            workspace_id: 1,
            email: "a@x".into(),
            name: "A".into(),
            role,
        }
    }

    /// Finding 14 of issue 10: a member who had not enrolled yet answered in 1–5 ms (no
    /// verification), everyone else in 25–400 ms, so response times showed who had an account.
    #[tokio::test]
    async fn every_login_path_runs_exactly_one_verification() {
        let work = PasswordWork::new(2, 8).unwrap();
        let hash = hash_password("het goede wachtwoord").unwrap();
        let known = |disabled| MemberAuth {
            member: member(Role::Professional),
            password_hash: Some(hash.clone()),
            disabled,
        };
        let unenrolled = MemberAuth {
            member: member(Role::Sleutelpersoon),
            password_hash: None,
            disabled: false,
        };
        let cases: Vec<(&str, Option<MemberAuth>, &str, bool)> = vec![
            ("unknown address", None, "wat dan ook", false),
            ("not enrolled yet", Some(unenrolled), "wat dan ook", false),
            ("disabled", Some(known(true)), "het goede wachtwoord", false),
            (
                "wrong password",
                Some(known(false)),
                "fout wachtwoord",
                false,
            ),
            (
                "right password",
                Some(known(false)),
                "het goede wachtwoord",
                true,
            ),
        ];
        for (what, found, password, ok) in cases {
            let before = work.verifications();
            let got = check_login(&work, found, password.into()).await.unwrap();
            assert_eq!(got.is_some(), ok, "{what}");
            assert_eq!(work.verifications() - before, 1, "{what}: verifications");
        }
    }

    /// Finding 3 of issue 10: 100 parallel logins ran 100 argon2 verifications (19 MiB each) at
    /// once. Now they take turns, and beyond the queue they are turned away at once.
    #[tokio::test]
    async fn password_checks_take_turns_and_the_queue_is_bounded() {
        let work = Arc::new(PasswordWork::new(1, 1).unwrap());
        let held = work.permits.clone().try_acquire_owned().unwrap();
        let queued = tokio::spawn({
            let work = work.clone();
            async move { work.verify("x".into(), None).await }
        });
        while work.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(work.verify("y".into(), None).await, Err(Busy)));
        assert_eq!(
            work.verifications(),
            0,
            "nothing ran while the permit was held"
        );
        drop(held);
        assert!(matches!(queued.await.unwrap(), Ok(false)));
        assert_eq!(work.verifications(), 1);
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0);
        // A caller that stops waiting leaves the queue.
        let held = work.permits.clone().try_acquire_owned().unwrap();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            work.verify("z".into(), None),
        )
        .await;
        assert!(gave_up.is_err());
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0);
        drop(held);
        // One argon2 memory per permit, reused.
        for _ in 0..3 {
            work.verify("w".into(), None).await.unwrap();
        }
        let pool = work.memory.lock().unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(pool[0].len(), Params::default().block_count());
    }

    #[test]
    fn enrollment_codes_are_readable_and_normalise() {
        let c = new_enrollment_code();
        assert_eq!(c.len(), 14);
        assert_eq!(normalise_code(&c.to_lowercase()), c.replace('-', ""));
    }
}
