//! Interop with the official npm `socket.io-client` v4 (separate: it needs Node and
//! `tests/clients/node/node_modules`, installed by `scripts/test.sh`, and spawns processes).
//!
//! The scenarios are in `volley_tests::interop_cases`, shared with `interop_python.rs`.

volley_tests::interop_tests!(volley_tests::clients::Client::Node);
