//! The errors of building and connecting a [`RedisBus`](crate::RedisBus).

use volley_cluster::BusError;

/// Why a [`RedisBus`](crate::RedisBus) could not be built or could not connect.
///
/// Publishing and subscribing report [`BusError`] instead, as the
/// [`PubSub`](volley_cluster::PubSub) trait asks; a `RedisError` met on the way (the
/// lazy first connection) becomes [`BusError::Unavailable`].
///
/// ```
/// use volley_redis::{RedisBus, RedisError};
///
/// let err = RedisBus::new("http://localhost:6379").unwrap_err();
/// assert!(matches!(err, RedisError::InvalidUrl(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not a `redis://host[:port][/db]` URL this transport can use. The message never
    /// repeats the URL, which may hold a password.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// The first connection to the server failed (refused, timed out, authentication, …).
    #[error("cannot connect to Redis: {0}")]
    Connect(String),
}

impl From<RedisError> for BusError {
    fn from(err: RedisError) -> Self {
        match err {
            RedisError::Connect(_) => BusError::Unavailable(err.to_string()),
            RedisError::InvalidUrl(_) => BusError::Other(err.to_string()),
        }
    }
}

/// Maps a fred error to what the cluster manager needs to know: can it retry later
/// (`Unavailable`), or did the broker refuse the command (`Other`). `address` names the server
/// (never with its password).
pub(crate) fn bus_error(err: fred::error::Error, address: &str) -> BusError {
    use fred::error::ErrorKind;
    match err.kind() {
        // What a fail-fast command gets while the connection is down.
        ErrorKind::Canceled => BusError::Unavailable(format!(
            "not connected to Redis at {address} (reconnecting in the background)"
        )),
        ErrorKind::Timeout => {
            BusError::Unavailable(format!("Redis at {address} did not answer in time"))
        }
        ErrorKind::Backpressure => {
            BusError::Unavailable(format!("too many commands waiting for Redis at {address}"))
        }
        ErrorKind::IO | ErrorKind::Routing => {
            BusError::Unavailable(format!("Redis at {address}: {}", describe(&err)))
        }
        _ => BusError::Other(format!("Redis at {address}: {}", describe(&err))),
    }
}

/// A one-line description of a fred error.
pub(crate) fn describe(err: &fred::error::Error) -> String {
    format!("{}: {}", err.kind().to_str(), err.details())
}
