//! Who may try a password or an enrollment code now: exponential backoff per client address, per
//! (account, client address) pair, and a per-account alarm.
//!
//! The design decision: **an attack on an account must not lock its owner out.** A limit per
//! account alone lets anyone lock anyone out (ten wrong passwords, and the right one is refused
//! too); a limit per client address alone lets a botnet guess forever. So:
//!
//! - Per client address (IPv4 address, IPv6 /64): [`ADDRESS_FREE`] failures, then each attempt
//!   waits 2, 4, 8, … seconds (up to [`CAP`]) after the last failure. This stops spraying one
//!   password over many accounts (finding: unlimited spraying across accounts).
//! - Per (account, client address): [`PAIR_FREE`] failures, then the same backoff. This is the
//!   guessing limit, and it is the only one that names the account, so an attacker elsewhere
//!   never blocks the owner's own address.
//! - Per account: when [`ACCOUNT_ALARM`] failures came in (from any addresses) within [`FORGET`],
//!   the account is under attack, and every pair for it gets only [`PAIR_FREE_UNDER_ATTACK`]
//!   free failure. An address that has not failed for this account still gets its attempt, so
//!   the owner logs in with the right password; a botnet gets one guess per address and then the
//!   backoff.
//!
//! Attempts still running count as failures until they finish, so a burst of parallel requests
//! cannot slip past a limit before the first failure is recorded; an attempt that is abandoned
//! (the client hung up) counts as a failure. Backoff is answered with 429 and the seconds to wait.
//!
//! Memory is bounded: keys are 128-bit hashes, each map holds at most [`MAX_KEYS`] entries, an
//! entry is forgotten [`FORGET`] after its last failure, and when a map is full of live entries
//! the oldest tenth is dropped.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per client address before backoff (an office behind one NAT address shares them).
pub const ADDRESS_FREE: u32 = 20;
/// Failures per (account, client address) before backoff.
pub const PAIR_FREE: u32 = 5;
/// Failures per (account, client address) before backoff while the account is under attack.
pub const PAIR_FREE_UNDER_ATTACK: u32 = 1;
/// Failures for one account (any addresses) that put it under attack.
pub const ACCOUNT_ALARM: u32 = 10;
/// Wrong enrollment codes per client address before backoff.
pub const ENROLL_FREE: u32 = 10;
/// The longest wait.
pub const CAP: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten this long after the last one.
pub const FORGET: Duration = Duration::from_secs(60 * 60);
/// Entries per map.
pub const MAX_KEYS: usize = 100_000;

type Key = [u8; 16];

fn key(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&digest[..16]);
    k
}

/// The part of a client address that one client controls: an IPv4 address, or the /64 prefix of
/// an IPv6 address (one host often has a whole /64). An IPv4 address mapped into IPv6 is IPv4.
pub fn client_key(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    last: Instant,
}

/// Failures per key with exponential backoff.
pub struct Backoff {
    cap: Duration,
    forget: Duration,
    max_keys: usize,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// The wait after `failures` failures when `free` are free: none before, then 2, 4, 8, … seconds.
pub fn delay(failures: u32, free: u32, cap: Duration) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let exp = (failures - free + 1).min(30);
    Duration::from_secs(1u64 << exp).min(cap)
}

impl Backoff {
    pub fn new(cap: Duration, forget: Duration, max_keys: usize) -> Backoff {
        Backoff {
            cap,
            forget,
            max_keys,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self, e: &Entry, now: Instant) -> bool {
        e.in_flight > 0 || now.saturating_duration_since(e.last) < self.forget
    }

    /// Failures recorded for `k` (forgotten ones not counted).
    fn failures(&self, k: &Key, now: Instant) -> u32 {
        let Ok(map) = self.entries.lock() else {
            return u32::MAX;
        };
        map.get(k)
            .filter(|e| now.saturating_duration_since(e.last) < self.forget)
            .map_or(0, |e| e.failures)
    }

    /// How long `k` must wait before another attempt when `free` failures are free, counting
    /// attempts in flight as failures. `None`: it may try now.
    fn wait(
        &self,
        map: &HashMap<Key, Entry>,
        k: &Key,
        free: u32,
        now: Instant,
    ) -> Option<Duration> {
        let e = map.get(k)?;
        let failures = if now.saturating_duration_since(e.last) < self.forget {
            e.failures
        } else {
            0
        };
        if failures + e.in_flight < free {
            return None;
        }
        if e.in_flight > 0 && failures < free {
            // Free attempts are all in flight: they finish within a second or so.
            return Some(Duration::from_secs(1));
        }
        let until = e.last + delay(failures, free, self.cap);
        let left = until.saturating_duration_since(now);
        if left.is_zero() && e.in_flight == 0 {
            None
        } else {
            Some(left.max(Duration::from_secs(1)))
        }
    }

    fn start(&self, map: &mut HashMap<Key, Entry>, k: Key, now: Instant) {
        if map.len() >= self.max_keys && !map.contains_key(&k) {
            self.make_room(map, now);
        }
        let e = map.entry(k).or_insert(Entry {
            failures: 0,
            in_flight: 0,
            last: now,
        });
        if now.saturating_duration_since(e.last) >= self.forget {
            e.failures = 0;
        }
        e.in_flight += 1;
    }

    fn finish(&self, map: &mut HashMap<Key, Entry>, k: &Key, outcome: Outcome, now: Instant) {
        let Some(e) = map.get_mut(k) else {
            return;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failed => {
                if now.saturating_duration_since(e.last) >= self.forget {
                    e.failures = 0;
                }
                e.failures = e.failures.saturating_add(1);
                e.last = e.last.max(now);
            }
            Outcome::Cleared => {
                if e.in_flight == 0 {
                    map.remove(k);
                } else {
                    e.failures = 0;
                }
            }
            Outcome::Neutral => {
                if e.in_flight == 0 && e.failures == 0 {
                    map.remove(k);
                }
            }
        }
    }

    /// Forget what is old; if that is not enough, drop the entries whose last failure is oldest.
    fn make_room(&self, map: &mut HashMap<Key, Entry>, now: Instant) {
        map.retain(|_, e| self.live(e, now));
        if map.len() < self.max_keys {
            return;
        }
        let mut idle: Vec<(Instant, Key)> = map
            .iter()
            .filter(|(_, e)| e.in_flight == 0)
            .map(|(k, e)| (e.last, *k))
            .collect();
        idle.sort_unstable();
        for (_, k) in idle.iter().take(self.max_keys / 10 + 1) {
            map.remove(k);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A failed attempt: counts.
    Failed,
    /// A success: the key's failures are forgotten.
    Cleared,
    /// Neither (a success for a key that stays as it was; the server was too busy to check).
    Neutral,
}

/// The login and enrollment limits of one server process.
pub struct Limits {
    address: Backoff,
    pair: Backoff,
    account: Backoff,
    enroll: Backoff,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(CAP, FORGET, MAX_KEYS)
    }
}

/// One login attempt under way. Say how it ended with [`LoginAttempt::succeeded`] or
/// [`LoginAttempt::not_checked`]; dropped otherwise, it counts as a failure.
pub struct LoginAttempt<'a> {
    limits: &'a Limits,
    address: Key,
    pair: Key,
    account: Key,
    /// When it started; a failure counts from then (the backoff runs from the attempt, not from
    /// the end of its password check).
    at: Instant,
    done: bool,
}

impl LoginAttempt<'_> {
    fn end(mut self, address: Outcome, pair: Outcome, account: Outcome) {
        self.done = true;
        self.limits.finish_login(&self, [address, pair, account]);
    }

    /// The password was right: this address's failures for this account are forgotten. Those
    /// of the address alone and of the account stay (logging in to one's own account must not
    /// reset the limit on spraying others).
    pub fn succeeded(self) {
        self.end(Outcome::Neutral, Outcome::Cleared, Outcome::Neutral);
    }

    pub fn failed(self) {
        self.end(Outcome::Failed, Outcome::Failed, Outcome::Failed);
    }

    /// The password was never checked (the server was too busy): nothing counts.
    pub fn not_checked(self) {
        self.end(Outcome::Neutral, Outcome::Neutral, Outcome::Neutral);
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.limits.finish_login(self, [Outcome::Failed; 3]);
        }
    }
}

/// One enrollment attempt under way; dropped without [`EnrollAttempt::succeeded`] or
/// [`EnrollAttempt::not_checked`], it counts as a wrong code.
pub struct EnrollAttempt<'a> {
    limits: &'a Limits,
    address: Key,
    at: Instant,
    done: bool,
}

impl EnrollAttempt<'_> {
    fn end(mut self, outcome: Outcome) {
        self.done = true;
        self.limits.finish_enroll(&self.address, outcome, self.at);
    }

    pub fn succeeded(self) {
        self.end(Outcome::Neutral);
    }

    pub fn failed(self) {
        self.end(Outcome::Failed);
    }

    pub fn not_checked(self) {
        self.end(Outcome::Neutral);
    }
}

impl Drop for EnrollAttempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.limits
                .finish_enroll(&self.address, Outcome::Failed, self.at);
        }
    }
}

impl Limits {
    pub fn new(cap: Duration, forget: Duration, max_keys: usize) -> Limits {
        let b = || Backoff::new(cap, forget, max_keys);
        Limits {
            address: b(),
            pair: b(),
            account: b(),
            enroll: b(),
        }
    }

    /// Start a login attempt for `email` (normalised) from `client`, or the time to wait.
    pub fn begin_login(
        &self,
        email: &str,
        client: IpAddr,
        now: Instant,
    ) -> Result<LoginAttempt<'_>, Duration> {
        let client = client_key(client);
        let address = key(&[b"address", &client]);
        let pair = key(&[b"pair", email.as_bytes(), &client]);
        let account = key(&[b"account", email.as_bytes()]);
        let pair_free = if self.account.failures(&account, now) >= ACCOUNT_ALARM {
            PAIR_FREE_UNDER_ATTACK
        } else {
            PAIR_FREE
        };
        // Lock order: address, pair, account; each map is locked alone.
        {
            let mut a = self.address.entries.lock().map_err(|_| CAP)?;
            let mut p = self.pair.entries.lock().map_err(|_| CAP)?;
            let wait = [
                self.address.wait(&a, &address, ADDRESS_FREE, now),
                self.pair.wait(&p, &pair, pair_free, now),
            ]
            .into_iter()
            .flatten()
            .max();
            if let Some(wait) = wait {
                return Err(wait);
            }
            self.address.start(&mut a, address, now);
            self.pair.start(&mut p, pair, now);
        }
        if let Ok(mut acc) = self.account.entries.lock() {
            self.account.start(&mut acc, account, now);
        }
        Ok(LoginAttempt {
            limits: self,
            address,
            pair,
            account,
            at: now,
            done: false,
        })
    }

    fn finish_login(&self, a: &LoginAttempt<'_>, outcome: [Outcome; 3]) {
        if let Ok(mut m) = self.address.entries.lock() {
            self.address.finish(&mut m, &a.address, outcome[0], a.at);
        }
        if let Ok(mut m) = self.pair.entries.lock() {
            self.pair.finish(&mut m, &a.pair, outcome[1], a.at);
        }
        if let Ok(mut m) = self.account.entries.lock() {
            self.account.finish(&mut m, &a.account, outcome[2], a.at);
        }
    }

    /// Start an enrollment attempt from `client`, or the time to wait. Codes are random and
    /// carry no account, so the limit is per client address only.
    pub fn begin_enroll(
        &self,
        client: IpAddr,
        now: Instant,
    ) -> Result<EnrollAttempt<'_>, Duration> {
        let address = key(&[b"enroll", &client_key(client)]);
        let mut m = self.enroll.entries.lock().map_err(|_| CAP)?;
        if let Some(wait) = self.enroll.wait(&m, &address, ENROLL_FREE, now) {
            return Err(wait);
        }
        self.enroll.start(&mut m, address, now);
        Ok(EnrollAttempt {
            limits: self,
            address,
            at: now,
            done: false,
        })
    }

    fn finish_enroll(&self, address: &Key, outcome: Outcome, at: Instant) {
        if let Ok(mut m) = self.enroll.entries.lock() {
            self.enroll.finish(&mut m, address, outcome, at);
        }
    }

    /// Entries held, all maps together.
    pub fn entries(&self) -> usize {
        self.address.len() + self.pair.len() + self.account.len() + self.enroll.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn the_wait_doubles_after_the_free_failures_up_to_the_cap() {
        let d = |n| delay(n, 5, CAP);
        assert_eq!(d(4), Duration::ZERO);
        assert_eq!(d(5), 2 * SEC);
        assert_eq!(d(6), 4 * SEC);
        assert_eq!(d(7), 8 * SEC);
        assert_eq!(d(40), CAP);
        assert_eq!(d(u32::MAX), CAP);
    }

    #[test]
    fn wrong_passwords_from_one_address_back_off_exponentially() {
        let l = Limits::default();
        let t0 = Instant::now();
        for _ in 0..PAIR_FREE {
            l.begin_login("a@x", ip(1), t0).expect("free").failed();
        }
        let wait = l.begin_login("a@x", ip(1), t0).err().expect("backoff");
        assert_eq!(wait, 2 * SEC);
        assert!(l.begin_login("a@x", ip(1), t0 + SEC).is_err());
        l.begin_login("a@x", ip(1), t0 + 2 * SEC)
            .expect("after the wait")
            .failed();
        let wait = l
            .begin_login("a@x", ip(1), t0 + 2 * SEC)
            .err()
            .expect("backoff");
        assert_eq!(wait, 4 * SEC);
        // A right password after the wait clears this address's failures for the account.
        l.begin_login("a@x", ip(1), t0 + 6 * SEC)
            .expect("after the wait")
            .succeeded();
        l.begin_login("a@x", ip(1), t0 + 6 * SEC)
            .expect("free again")
            .failed();
        assert!(l.begin_login("a@x", ip(1), t0 + 6 * SEC).is_ok());
    }

    /// Finding 5 of issue 10: after ten wrong passwords even the right one got 429.
    #[test]
    fn an_attack_on_an_account_does_not_lock_its_owner_out() {
        let l = Limits::default();
        let t0 = Instant::now();
        // One attacker address, then many.
        for _ in 0..PAIR_FREE {
            l.begin_login("owner@x", ip(1), t0).expect("free").failed();
        }
        for n in 2..40 {
            if let Ok(a) = l.begin_login("owner@x", ip(n), t0) {
                a.failed();
            }
        }
        // Under attack, every address that failed waits after a single failure…
        assert!(l.begin_login("owner@x", ip(2), t0).is_err());
        assert!(l.begin_login("owner@x", ip(39), t0).is_err());
        // …and the owner, from an address that has not failed, still gets in.
        l.begin_login("owner@x", ip(1000), t0)
            .expect("the owner's own address")
            .succeeded();
        // A mistyped password from there waits (one free failure while under attack).
        l.begin_login("owner@x", ip(1001), t0)
            .expect("clean")
            .failed();
        assert_eq!(l.begin_login("owner@x", ip(1001), t0).err(), Some(2 * SEC));
    }

    /// Finding 3 of issue 10: the limit was per e-mail address only, so one client could try
    /// unlimited distinct addresses.
    #[test]
    fn spraying_many_accounts_from_one_address_backs_off() {
        let l = Limits::default();
        let t0 = Instant::now();
        for n in 0..ADDRESS_FREE {
            l.begin_login(&format!("u{n}@x"), ip(1), t0)
                .expect("free")
                .failed();
        }
        assert_eq!(l.begin_login("fresh@x", ip(1), t0).err(), Some(2 * SEC));
        assert!(
            l.begin_login("fresh@x", ip(2), t0).is_ok(),
            "other clients unaffected"
        );
    }

    #[test]
    fn attempts_in_flight_count_so_a_parallel_burst_is_cut_off() {
        let l = Limits::default();
        let t0 = Instant::now();
        let running: Vec<_> = (0..ADDRESS_FREE)
            .map(|n| l.begin_login(&format!("u{n}@x"), ip(1), t0).expect("free"))
            .collect();
        assert_eq!(l.begin_login("more@x", ip(1), t0).err(), Some(SEC));
        // Abandoned attempts (the client hung up) count as failures; unchecked ones do not.
        let mut running = running.into_iter();
        running.next().expect("one").not_checked();
        drop(running);
        l.begin_login("more@x", ip(1), t0)
            .expect("one free failure left")
            .failed();
        assert_eq!(l.begin_login("more@x", ip(1), t0).err(), Some(2 * SEC));
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(client_key(mapped), client_key(ip(1)));
    }

    /// Finding 4 of issue 10: one global key, so ten wrong codes from anyone blocked everyone.
    #[test]
    fn wrong_enrollment_codes_block_only_their_client() {
        let l = Limits::default();
        let t0 = Instant::now();
        for _ in 0..ENROLL_FREE {
            l.begin_enroll(ip(1), t0).expect("free").failed();
        }
        assert_eq!(l.begin_enroll(ip(1), t0).err(), Some(2 * SEC));
        l.begin_enroll(ip(2), t0)
            .expect("another client")
            .succeeded();
    }

    #[test]
    fn failures_are_forgotten_after_an_hour() {
        let l = Limits::default();
        let t0 = Instant::now();
        for _ in 0..PAIR_FREE + 3 {
            if let Ok(a) = l.begin_login("a@x", ip(1), t0) {
                a.failed();
            }
        }
        assert!(l.begin_login("a@x", ip(1), t0 + SEC).is_err());
        let later = t0 + FORGET;
        for _ in 0..PAIR_FREE {
            l.begin_login("a@x", ip(1), later)
                .expect("forgotten")
                .failed();
        }
        assert!(l.begin_login("a@x", ip(1), later).is_err());
    }

    #[test]
    fn memory_stays_bounded_under_a_spray_of_distinct_keys() {
        let l = Limits::new(CAP, FORGET, 1_000);
        let t0 = Instant::now();
        for n in 0..20_000u32 {
            if let Ok(a) = l.begin_login(&format!("u{n}@x"), ip(n), t0) {
                a.failed();
            }
        }
        // Three login maps (address, pair, account), each at most its bound.
        assert!(l.entries() <= 3 * 1_000, "{} entries", l.entries());
        // The most recent failures are the ones kept.
        for _ in 0..PAIR_FREE - 1 {
            l.begin_login("u19999@x", ip(19_999), t0)
                .expect("free")
                .failed();
        }
        assert!(l.begin_login("u19999@x", ip(19_999), t0).is_err());
    }
}
