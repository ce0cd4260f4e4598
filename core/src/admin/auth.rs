//! Logging the Admin UI in: its credentials, or a session id it was given by an earlier login.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use volley_protocol::Value;

use super::throttle::{Origin, Throttle};
use super::{AdminAuth, AdminError};
use crate::ConnectError;

/// The CONNECT_ERROR message of a failed login, the reference server's (the UI tests for it).
pub(crate) const INVALID_CREDENTIALS: &str = "invalid credentials";

/// How many session ids one node remembers; the oldest is forgotten first.
const MAX_SESSIONS: usize = 1024;
/// How long a session id stays valid (the reference's Redis store keeps them a day).
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// The session ids handed out after a successful login, each with its expiry.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    ids: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// Makes and remembers a new session id: 16 random hex digits.
    pub(crate) fn open(&self) -> String {
        let id = format!("{:016x}", rand::random::<u64>());
        let now = Instant::now();
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.len() >= MAX_SESSIONS {
            ids.retain(|_, expiry| *expiry > now);
        }
        if ids.len() >= MAX_SESSIONS {
            let oldest = ids
                .iter()
                .min_by_key(|(_, expiry)| **expiry)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                ids.remove(&oldest);
            }
        }
        ids.insert(id.clone(), now + SESSION_TTL);
        id
    }

    /// Whether `id` was handed out by this node and has not expired.
    pub(crate) fn is_valid(&self, id: &str) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        match ids.get(id) {
            Some(expiry) if *expiry > Instant::now() => true,
            Some(_) => {
                ids.remove(id);
                false
            }
            None => false,
        }
    }
}

/// A string field of the UI's `auth` payload.
fn field<'a>(auth: Option<&'a Value>, name: &str) -> Option<&'a str> {
    match auth? {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    }
}

/// Compares two byte strings in time that depends on their lengths only.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a configured bcrypt hash once, when the server is instrumented.
pub(crate) fn check_config(auth: &AdminAuth) -> Result<(), AdminError> {
    if auth.is_hashed() {
        auth.password
            .parse::<bcrypt::HashParts>()
            .map_err(|e| AdminError::BadHash(e.to_string()))?;
    }
    Ok(())
}

/// What a login attempt proved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Login {
    /// A session id from an earlier login: no new session.
    Resumed,
    /// The right username and password: a new session.
    Credentials,
}

/// How many bcrypt comparisons may run at once: each takes tens of milliseconds of CPU on
/// purpose, so a flood of logins must not take every core.
pub(crate) const CONCURRENT_VERIFICATIONS: usize = 2;

/// Where a login attempt comes from and what it sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    /// The client's address, as the handshake saw it.
    pub(crate) peer: Option<SocketAddr>,
    /// The UI's `auth` payload.
    pub(crate) auth: Option<&'a Value>,
}

/// Decides a login attempt, unless failed logins from its address hold it back (`throttle`):
/// see [`check`].
pub(crate) async fn login(
    expected: &AdminAuth,
    sessions: &Sessions,
    permits: &tokio::sync::Semaphore,
    throttle: &Throttle,
    attempt: Attempt<'_>,
) -> Result<Login, ConnectError> {
    let admitted = throttle
        .admit(Origin::of(attempt.peer))
        .map_err(held_back)?;
    let login = check(expected, sessions, permits, attempt.auth).await;
    match login {
        Ok(_) => admitted.succeeded(),
        Err(_) => admitted.failed(),
    }
    login
}

/// The refusal of an attempt held back for `wait`.
fn held_back(wait: Duration) -> ConnectError {
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1);
    ConnectError::new(format!("too many failed logins, retry in {secs} s"))
}

/// Decides a login from the UI's `auth` payload: a valid `sessionId`, else `username` and
/// `password`. A bcrypt comparison runs on the blocking pool, at most
/// [`CONCURRENT_VERIFICATIONS`] at a time (`permits`).
async fn check(
    expected: &AdminAuth,
    sessions: &Sessions,
    permits: &tokio::sync::Semaphore,
    auth: Option<&Value>,
) -> Result<Login, ConnectError> {
    if field(auth, "sessionId").is_some_and(|id| sessions.is_valid(id)) {
        return Ok(Login::Resumed);
    }
    let refused = || ConnectError::new(INVALID_CREDENTIALS);
    let username = field(auth, "username").ok_or_else(refused)?;
    let password = field(auth, "password").ok_or_else(refused)?;
    let user_ok = same_bytes(username.as_bytes(), expected.username.as_bytes());
    let password_ok = if expected.is_hashed() {
        let _permit = permits.acquire().await.map_err(|_| refused())?;
        let (password, hash) = (password.to_owned(), expected.password.clone());
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false)
    } else {
        same_bytes(password.as_bytes(), expected.password.as_bytes())
    };
    if user_ok && password_ok {
        Ok(Login::Credentials)
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2a$10$1nPSmZm6Mj36h.8bBDAFYOK7zK93OdTbB.fkWttwO08OCPBbTvenG";

    fn permits() -> tokio::sync::Semaphore {
        tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS)
    }

    fn auth(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (Value::from(*k), Value::from(*v)))
                .collect(),
        )
    }

    #[tokio::test]
    async fn plain_and_hashed_passwords() {
        let sessions = Sessions::default();
        for expected in [
            AdminAuth::new("admin", "changeit"),
            AdminAuth::new("admin", HASH),
        ] {
            check_config(&expected).expect("valid");
            let good = auth(&[("username", "admin"), ("password", "changeit")]);
            assert_eq!(
                check(&expected, &sessions, &permits(), Some(&good)).await,
                Ok(Login::Credentials)
            );
            for bad in [
                auth(&[("username", "admin"), ("password", "nope")]),
                auth(&[("username", "root"), ("password", "changeit")]),
                auth(&[("username", "admin")]),
            ] {
                let err = check(&expected, &sessions, &permits(), Some(&bad))
                    .await
                    .expect_err("refused");
                assert_eq!(err.message(), INVALID_CREDENTIALS);
            }
            assert!(check(&expected, &sessions, &permits(), None).await.is_err());
        }
    }

    #[tokio::test]
    async fn failed_logins_hold_back_the_next_from_their_address() {
        let expected = AdminAuth::new("admin", "changeit");
        let sessions = Sessions::default();
        let throttle = Throttle::new(crate::admin::LoginThrottle {
            free_failures: 2,
            ..Default::default()
        });
        let (bad, good) = (
            auth(&[("username", "admin"), ("password", "nope")]),
            auth(&[("username", "admin"), ("password", "changeit")]),
        );
        let from = |auth| Attempt {
            peer: Some(SocketAddr::from(([192, 0, 2, 1], 1000))),
            auth: Some(auth),
        };
        for _ in 0..2 {
            let err = login(&expected, &sessions, &permits(), &throttle, from(&bad)).await;
            assert_eq!(
                err.map_err(|e| e.message().to_owned()),
                Err(INVALID_CREDENTIALS.into())
            );
        }
        let err = login(&expected, &sessions, &permits(), &throttle, from(&good)).await;
        assert_eq!(
            err.map_err(|e| e.message().to_owned()),
            Err("too many failed logins, retry in 1 s".into())
        );
        let elsewhere = Attempt {
            peer: Some(SocketAddr::from(([192, 0, 2, 2], 1000))),
            auth: Some(&good),
        };
        let ok = login(&expected, &sessions, &permits(), &throttle, elsewhere).await;
        assert_eq!(ok, Ok(Login::Credentials));
    }

    #[test]
    fn bad_hashes_are_refused_up_front() {
        let broken = AdminAuth::new("admin", "$2b$10$tooshort");
        assert!(matches!(check_config(&broken), Err(AdminError::BadHash(_))));
    }

    #[tokio::test]
    async fn sessions_resume_and_stay_bounded() {
        let expected = AdminAuth::new("admin", "changeit");
        let sessions = Sessions::default();
        let id = sessions.open();
        assert_eq!(id.len(), 16);
        let resume = auth(&[("sessionId", &id)]);
        assert_eq!(
            check(&expected, &sessions, &permits(), Some(&resume)).await,
            Ok(Login::Resumed)
        );
        let forged = auth(&[("sessionId", "0123456789abcdef")]);
        assert!(check(&expected, &sessions, &permits(), Some(&forged))
            .await
            .is_err());
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.open();
        }
        let count = sessions.ids.lock().map(|ids| ids.len()).unwrap_or(0);
        assert_eq!(count, MAX_SESSIONS);
    }
}
