//! The errors of building and connecting a [`KafkaBus`](crate::KafkaBus), and how librdkafka's
//! errors become [`BusError`]s.

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use volley_cluster::BusError;

/// Why a [`KafkaBus`](crate::KafkaBus) could not be built or could not connect.
///
/// Publishing and subscribing report [`BusError`] instead, as the
/// [`PubSub`](volley_cluster::PubSub) trait asks; a `KafkaError` met on the way (the
/// lazy first connection) becomes [`BusError::Unavailable`].
///
/// ```
/// use volley_kafka::{KafkaBus, KafkaError};
///
/// let err = KafkaBus::new("http://localhost:9092").unwrap_err();
/// assert!(matches!(err, KafkaError::InvalidBrokers(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// The broker list is not `[kafka://]host[:port][,host[:port]…]`.
    #[error("invalid Kafka broker list: {0}")]
    InvalidBrokers(String),
    /// The topic name is not one Kafka accepts (1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`).
    #[error("invalid Kafka topic name: {0}")]
    InvalidTopic(String),
    /// librdkafka refused a setting (see [`KafkaBusBuilder::option`](crate::KafkaBusBuilder::option))
    /// or could not create a client.
    #[error("invalid Kafka client configuration: {0}")]
    Config(String),
    /// The brokers could not be reached, or the topic could not be created, in time.
    #[error("cannot connect to Kafka: {0}")]
    Connect(String),
}

impl From<KafkaError> for BusError {
    fn from(err: KafkaError) -> Self {
        match err {
            KafkaError::Connect(_) => BusError::Unavailable(err.to_string()),
            _ => BusError::Other(err.to_string()),
        }
    }
}

/// Whether this librdkafka error says the topic (or its partition) does not exist (any more):
/// the bus then creates it again.
pub(crate) fn is_unknown_topic(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::UnknownTopicId
    )
}

/// Maps the error of a failed publish to what the cluster manager needs to know: is the
/// message too large (`TooLarge`), did the broker refuse it for good (`Other`: authorization,
/// invalid record), or can a later publish succeed (`Unavailable`: timeouts, broker down, leader
/// moving, topic missing, full queue).
pub(crate) fn publish_error(err: &RdError, size: usize) -> BusError {
    let Some(code) = err.rdkafka_error_code() else {
        return BusError::Other(err.to_string());
    };
    match code {
        RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge => {
            BusError::TooLarge(size)
        }
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed
        | RDKafkaErrorCode::InvalidRecord
        | RDKafkaErrorCode::InvalidTopic
        | RDKafkaErrorCode::InvalidConfig
        | RDKafkaErrorCode::UnsupportedVersion
        | RDKafkaErrorCode::UnsupportedForMessageFormat => {
            BusError::Other(format!("Kafka refused the message: {code}"))
        }
        _ => BusError::Unavailable(format!("Kafka did not take the message: {code}")),
    }
}
