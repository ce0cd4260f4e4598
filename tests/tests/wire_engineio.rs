//! The Engine.IO v4 conformance suite, raw on the wire, against the bare Engine.IO echo server
//! (`volley_examples::engineio_echo`, or `VOLLEY_TEST_EXTERNAL_EIO`). Separate from the
//! Socket.IO suite because it runs against a different app.
//!
//! The scenarios live in `volley_tests::engineio_cases`; each test here is one of them.

use volley_tests::engineio_cases::{self as cases, Flavor, Target};
use volley_tests::{server, TestResult};

macro_rules! engineio_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() -> TestResult {
                let server = server::engineio_echo().await?;
                let target = Target { server: &server, path: "/engine.io/", flavor: Flavor::Echo };
                cases::$name(&target).await
            }
        )*
    };
}

engineio_tests!(
    // handshake
    handshake_polling_opens_session,
    handshake_polling_rejects_bad_eio,
    handshake_polling_rejects_bad_transport,
    handshake_polling_rejects_bad_method,
    handshake_ws_opens_session,
    handshake_ws_rejects_bad_eio,
    handshake_ws_rejects_bad_transport,
    polling_rejects_unknown_sid,
    ws_rejects_unknown_sid,
    // message
    polling_one_text_packet,
    polling_several_text_packets,
    polling_text_and_binary_packets,
    polling_invalid_packet_closes_session,
    polling_duplicate_get_closes_session,
    ws_text_packet,
    ws_binary_packet,
    ws_invalid_packet_closes_session,
    // heartbeat
    heartbeat_polling_ping_pong,
    heartbeat_polling_timeout,
    heartbeat_ws_ping_pong,
    heartbeat_ws_timeout,
    // close
    close_polling,
    close_ws,
    // upgrade
    upgrade_succeeds,
    upgrade_releases_parked_poll,
    upgrade_then_polling_rejected,
    upgrade_then_second_ws_closed,
    // max payload
    polling_rejects_oversized_payload,
    ws_rejects_oversized_message,
);
