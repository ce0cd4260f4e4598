//! The chat example's server for `tests/tests/deploy_nginx.rs`: the same app and the same flags
//! as the `chat` binary of `volley-examples` (`volley_examples::cli`), built as a binary of this
//! package so that the test finds it through `CARGO_BIN_EXE_deploy_chat` (cargo only hands a
//! package's integration tests the paths of that package's own binaries, and a test cannot run
//! `cargo build` itself). `deploy/run-local.sh` starts three of these when given `CHAT_BIN`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    volley_examples::cli::run(std::env::args().skip(1)).await
}
