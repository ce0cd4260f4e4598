//! Interop with the python-socketio 5 client from PyPI (separate: it needs the `.venv` that
//! `scripts/test.sh` creates from `tests/clients/python/requirements.txt`, and spawns processes).
//!
//! The scenarios are in `volley_tests::interop_cases`, shared with `interop_node.rs`.

volley_tests::interop_tests!(volley_tests::clients::Client::Python);
