//! The errors of building and connecting a [`NatsBus`](crate::NatsBus).

use volley_cluster::BusError;

/// Why a [`NatsBus`](crate::NatsBus) could not be built or could not connect.
///
/// Publishing and subscribing report [`BusError`] instead, as the
/// [`PubSub`](volley_cluster::PubSub) trait asks; a `NatsError` met on the way (the lazy first
/// connection) becomes [`BusError::Unavailable`].
///
/// ```
/// use volley_nats::{NatsBus, NatsError};
///
/// let err = NatsBus::new("http://localhost:4222").unwrap_err();
/// assert!(matches!(err, NatsError::InvalidUrl(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The URL is not a `nats://host[:port][?settings]` URL this transport can use. The message
    /// never repeats the URL, which may hold a password.
    #[error("invalid NATS URL: {0}")]
    InvalidUrl(String),
    /// The first connection to the server failed (refused, timed out, authentication, …), or
    /// the JetStream stream could not be created.
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
}

impl From<NatsError> for BusError {
    fn from(err: NatsError) -> Self {
        match err {
            NatsError::Connect(_) => BusError::Unavailable(err.to_string()),
            NatsError::InvalidUrl(_) => BusError::Other(err.to_string()),
        }
    }
}
