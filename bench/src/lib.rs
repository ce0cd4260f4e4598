//! Volley's benchmark harness: a Socket.IO load generator written for the job, the
//! servers under test (Volley's `volley_bench_server`, Node socket.io and python-socketio from
//! `bench/baselines/`), the scenarios, and the report they write to `BENCHMARKS.md`.
//!
//! Run everything with `bench/run.sh [--quick]`; `cargo run --release -p volley-bench -- smoke`
//! is the one-second check CI can run.

pub mod loadgen;
pub mod procfs;
pub mod report;
pub mod scenarios;
pub mod servers;
pub mod sockstat;
pub mod steal;
