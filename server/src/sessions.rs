//! Sessions: how long a bearer token lives, and ending the sync connections of a token that no
//! longer does.
//!
//! The design decision: **a token is checked where it is used, and open connections are told.**
//! REST requests check the token on every request ([`Sessions::member`]). A sync connection is
//! checked once, at the upgrade, and then lives for hours; so every open connection is registered
//! under its token ([`Sessions::open`]). Logout ends the token's connections at once
//! ([`Sessions::end`]), and a checker ([`Sessions::recheck`], every `--session-check-secs`) ends
//! those whose token expired, was revoked by another server process on the same PostgreSQL, or
//! whose member was disabled.
//!
//! A token expires after an idle lifetime (counted from its last use) and after an absolute
//! lifetime (counted from the login), both shorter for coordinators and admins. The last use is
//! written to the database at most every few minutes per token, not on every request.

use crate::db::accounts::{Member, Role, TokenSession};
use crate::db::{Db, DbError};
use clap::Args;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const DAY: u64 = 24 * 3600;

#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Seconds a session of a professional or sleutelpersoon stays valid without being used (a
    /// phone may stay offline for weeks and must still sync when it is back).
    #[arg(long, env = "VERTEL_SESSION_IDLE_SECS", default_value_t = 30 * DAY)]
    pub session_idle_secs: u64,
    /// Seconds after login a session of a professional or sleutelpersoon ends, used or not.
    #[arg(long, env = "VERTEL_SESSION_MAX_SECS", default_value_t = 90 * DAY)]
    pub session_max_secs: u64,
    /// Seconds a session of a coordinator or admin stays valid without being used. Shorter: they
    /// see every story of the workspace or manage its accounts, and work online at a desk.
    #[arg(long, env = "VERTEL_COORDINATOR_SESSION_IDLE_SECS", default_value_t = 4 * DAY)]
    pub coordinator_session_idle_secs: u64,
    /// Seconds after login a session of a coordinator or admin ends, used or not.
    #[arg(long, env = "VERTEL_COORDINATOR_SESSION_MAX_SECS", default_value_t = 30 * DAY)]
    pub coordinator_session_max_secs: u64,
    /// Seconds between checks that the token of every open sync connection is still valid
    /// (expired, revoked by another server process, member disabled). Logout on this process
    /// ends its connections at once.
    #[arg(long, env = "VERTEL_SESSION_CHECK_SECS", default_value_t = 15)]
    pub session_check_secs: u64,
}

/// How long a token lives without use and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub idle: Duration,
    pub max: Duration,
}

impl Lifetime {
    /// Whether a token made at `created_ms` and last used at `last_used_ms` has expired at
    /// `now_ms` (all milliseconds since the epoch).
    pub fn expired(&self, created_ms: i64, last_used_ms: Option<i64>, now_ms: i64) -> bool {
        let age = now_ms.saturating_sub(created_ms);
        let idle = now_ms.saturating_sub(last_used_ms.unwrap_or(created_ms).max(created_ms));
        age >= millis(self.max) || idle >= millis(self.idle)
    }

    /// How stale the recorded last use may get before it is written again: an eighth of the idle
    /// lifetime, at most five minutes. Being that much off never expires a token in use.
    fn touch_every(&self) -> i64 {
        millis(self.idle / 8).min(5 * 60 * 1000)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Professionals and sleutelpersonen: phones in the field.
    pub field: Lifetime,
    /// Coordinators and admins.
    pub coordinator: Lifetime,
    pub check_every: Duration,
}

impl SessionPolicy {
    pub fn from_args(args: &SessionArgs) -> Self {
        SessionPolicy {
            field: Lifetime {
                idle: Duration::from_secs(args.session_idle_secs),
                max: Duration::from_secs(args.session_max_secs),
            },
            coordinator: Lifetime {
                idle: Duration::from_secs(args.coordinator_session_idle_secs),
                max: Duration::from_secs(args.coordinator_session_max_secs),
            },
            check_every: Duration::from_secs(args.session_check_secs.max(1)),
        }
    }

    pub fn lifetime(&self, role: Role) -> Lifetime {
        match role {
            Role::Professional | Role::Sleutelpersoon => self.field,
            Role::Coordinator | Role::Admin => self.coordinator,
        }
    }

    fn expired(&self, s: &TokenSession, now_ms: i64) -> bool {
        self.lifetime(s.member.role)
            .expired(s.created_at, s.last_used_at, now_ms)
    }

    fn stale(&self, s: &TokenSession, now_ms: i64) -> bool {
        let last = s.last_used_at.unwrap_or(s.created_at);
        now_ms - last >= self.lifetime(s.member.role).touch_every()
    }
}

type ConnKey = u64;

/// Token lifetimes and the open sync connections of every token.
pub struct Sessions {
    db: Db,
    policy: SessionPolicy,
    open: Mutex<HashMap<String, HashMap<ConnKey, Arc<Notify>>>>,
    next: AtomicU64,
}

/// A sync connection's registration under its token. `ended` is signalled when the session ends
/// (logout, expiry, revocation); dropping this deregisters the connection.
pub struct OpenSession {
    sessions: Arc<Sessions>,
    token_hash: String,
    key: ConnKey,
    pub ended: Arc<Notify>,
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        if let Ok(mut open) = self.sessions.open.lock()
            && let Some(conns) = open.get_mut(&self.token_hash)
        {
            conns.remove(&self.key);
            if conns.is_empty() {
                open.remove(&self.token_hash);
            }
        }
    }
}

impl Sessions {
    pub fn new(db: Db, policy: SessionPolicy) -> Arc<Sessions> {
        Arc::new(Sessions {
            db,
            policy,
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        })
    }

    /// The member a token belongs to, if the token is live: not revoked, not expired, member not
    /// disabled. Records the use when the recorded one is stale.
    pub async fn member(&self, token_hash: &str) -> Result<Option<Member>, DbError> {
        let Some(session) = self.db.token_session(token_hash).await? else {
            return Ok(None);
        };
        let now = crate::db::now_ms();
        if self.policy.expired(&session, now) {
            return Ok(None);
        }
        if self.policy.stale(&session, now) {
            self.db.touch_tokens(&[token_hash.to_string()], now).await?;
        }
        Ok(Some(session.member))
    }

    /// Register a sync connection under its token.
    pub fn open(self: &Arc<Self>, token_hash: &str) -> OpenSession {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let ended = Arc::new(Notify::new());
        if let Ok(mut open) = self.open.lock() {
            open.entry(token_hash.to_string())
                .or_default()
                .insert(key, ended.clone());
        }
        OpenSession {
            sessions: self.clone(),
            token_hash: token_hash.to_string(),
            key,
            ended,
        }
    }

    /// End the open connections of a token (after logout). A connection that is not waiting
    /// right now finds the signal stored and ends before it reads another frame.
    pub fn end(&self, token_hash: &str) -> usize {
        let conns = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(token_hash))
            .unwrap_or_default();
        for ended in conns.values() {
            ended.notify_one();
        }
        conns.len()
    }

    /// Number of tokens with open connections.
    pub fn open_tokens(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Check the token of every open connection: end those whose token is no longer live, and
    /// record the use of the others (an open connection is a session in use). Returns the number
    /// of tokens ended.
    pub async fn recheck(&self) -> Result<usize, DbError> {
        let tokens: Vec<String> = match self.open.lock() {
            Ok(open) => open.keys().cloned().collect(),
            Err(_) => return Ok(0),
        };
        if tokens.is_empty() {
            return Ok(0);
        }
        let live = self.db.token_sessions(&tokens).await?;
        let now = crate::db::now_ms();
        let mut ended = 0;
        let mut stale = Vec::new();
        for token in &tokens {
            match live.get(token) {
                Some(s) if !self.policy.expired(s, now) => {
                    if self.policy.stale(s, now) {
                        stale.push(token.clone());
                    }
                }
                _ => {
                    if self.end(token) > 0 {
                        ended += 1;
                    }
                }
            }
        }
        if !stale.is_empty() {
            self.db.touch_tokens(&stale, now).await?;
        }
        Ok(ended)
    }

    /// Run [`Sessions::recheck`] every `--session-check-secs` for the life of the process.
    pub fn spawn_checker(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.policy.check_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match me.recheck().await {
                    Ok(0) => {}
                    Ok(ended) => tracing::info!(ended, "ended sync connections of dead sessions"),
                    Err(e) => tracing::warn!(error = %e, "checking open sessions failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    #[test]
    fn a_token_expires_when_idle_or_old_whichever_comes_first() {
        let l = Lifetime {
            idle: Duration::from_secs(30),
            max: Duration::from_secs(90),
        };
        let t0 = 1_000_000 * S;
        assert!(!l.expired(t0, None, t0 + 29 * S));
        assert!(
            l.expired(t0, None, t0 + 30 * S),
            "never used for the idle time"
        );
        assert!(
            !l.expired(t0, Some(t0 + 60 * S), t0 + 89 * S),
            "used recently"
        );
        assert!(
            l.expired(t0, Some(t0 + 89 * S), t0 + 90 * S),
            "absolute lifetime"
        );
        // A last use before creation (clock skew between processes) counts as the creation.
        assert!(l.expired(t0, Some(t0 - 100 * S), t0 + 30 * S));
    }

    #[test]
    fn the_last_use_is_written_rarely_but_well_within_the_idle_time() {
        let month = Lifetime {
            idle: Duration::from_secs(30 * DAY),
            max: Duration::from_secs(90 * DAY),
        };
        assert_eq!(month.touch_every(), 5 * 60 * S);
        let short = Lifetime {
            idle: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        assert_eq!(short.touch_every(), 250);
    }

    #[tokio::test]
    async fn ending_a_token_signals_its_connections_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&crate::db::default_url(dir.path()), 2)
            .await
            .unwrap();
        let args = SessionArgs {
            session_idle_secs: 60,
            session_max_secs: 60,
            coordinator_session_idle_secs: 60,
            coordinator_session_max_secs: 60,
            session_check_secs: 1,
        };
        let sessions = Sessions::new(db, SessionPolicy::from_args(&args));
        let a1 = sessions.open("token-a");
        let a2 = sessions.open("token-a");
        let b = sessions.open("token-b");
        assert_eq!(sessions.open_tokens(), 2);
        assert_eq!(sessions.end("token-a"), 2);
        // The signal is stored: a connection busy with a frame finds it when it next waits.
        let soon = Duration::from_millis(100);
        tokio::time::timeout(soon, a1.ended.notified())
            .await
            .unwrap();
        tokio::time::timeout(soon, a2.ended.notified())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(soon, b.ended.notified())
                .await
                .is_err()
        );
        drop((a1, a2));
        assert_eq!(sessions.open_tokens(), 1);
        // Unknown to the database (never issued, or revoked): the checker ends it.
        assert_eq!(sessions.recheck().await.unwrap(), 1);
        tokio::time::timeout(soon, b.ended.notified())
            .await
            .unwrap();
        drop(b);
        assert_eq!(sessions.open_tokens(), 0);
    }

    #[test]
    fn coordinators_and_admins_have_the_shorter_lifetime() {
        let args = SessionArgs {
            session_idle_secs: 30 * DAY,
            session_max_secs: 90 * DAY,
            coordinator_session_idle_secs: 4 * DAY,
            coordinator_session_max_secs: 30 * DAY,
            session_check_secs: 15,
        };
        let p = SessionPolicy::from_args(&args);
        assert_eq!(
            p.lifetime(Role::Professional).idle,
            Duration::from_secs(30 * DAY)
        );
        assert_eq!(
            p.lifetime(Role::Sleutelpersoon).max,
            Duration::from_secs(90 * DAY)
        );
        assert_eq!(
            p.lifetime(Role::Coordinator).idle,
            Duration::from_secs(4 * DAY)
        );
        assert_eq!(p.lifetime(Role::Admin).max, Duration::from_secs(30 * DAY));
    }
}
