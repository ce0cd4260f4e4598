//! Refusals of Kafka's own: bad broker lists, topics and options. Oversized payloads and
//! unreachable brokers: the conformance suite (tests/conformance.rs).

use volley_kafka::{KafkaBus, KafkaError};

#[test]
fn invalid_settings_are_errors_not_panics() {
    for brokers in [
        "",
        "   ",
        "http://127.0.0.1:9092",
        "kafka://",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "kafka://user:pw@host:9092",
        "[::1",
        "\u{0}\u{ffff}",
    ] {
        match KafkaBus::new(brokers) {
            Err(KafkaError::InvalidBrokers(reason)) => {
                assert!(!reason.is_empty());
                assert!(!reason.contains("pw"), "the password leaks into {reason}");
            }
            Err(other) => panic!("{brokers:?}: unexpected error {other}"),
            Ok(_) => panic!("{brokers:?} was accepted"),
        }
    }
    for topic in ["", "a b", "a/b", ".."] {
        let result = KafkaBus::builder("h:9092").topic(topic).build();
        assert!(
            matches!(result, Err(KafkaError::InvalidTopic(_))),
            "{topic:?}"
        );
    }
    let result = KafkaBus::builder("h:9092")
        .option("linger.ms", "not a number")
        .build();
    assert!(matches!(result, Err(KafkaError::Config(_))), "{result:?}");
    let result = KafkaBus::builder("h:9092")
        .option("no.such.property", "1")
        .build();
    assert!(matches!(result, Err(KafkaError::Config(_))), "{result:?}");
}
