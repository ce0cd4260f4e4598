//! Serves the chat example on http://127.0.0.1:3000. Start it with `./examples/chat/run.sh`,
//! which installs the browser's `socket.io-client` first. Flags: see
//! [`volley_examples::cli::USAGE`] (`--host`, `--port`, `--adapter URL`, `--public DIR`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    volley_examples::cli::run(std::env::args().skip(1)).await
}
