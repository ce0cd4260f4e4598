//! Serves the chat example on http://127.0.0.1:3000. Start it with `./examples/chat/run.sh`,
//! which installs the browser's `socket.io-client` first.
//!
//! Flags: `--port N` (default 3000), `--adapter URL` (default `memory`), `--public DIR` (the
//! examples/chat directory, found from any working directory by default).

use std::path::PathBuf;
use std::process::ExitCode;

use volley_examples::chat::{self, ChatOptions};

const USAGE: &str = "usage: chat [--port N] [--adapter URL] [--public DIR]

  --port N       TCP port on 127.0.0.1 (default 3000)
  --adapter URL  how server nodes share rooms and emits (default memory: one node)
  --public DIR   the examples/chat directory: public/ and node_modules/ (default: the source tree's)";

/// Reads the flags; `Err` carries the message to print.
fn parse(args: impl IntoIterator<Item = String>) -> Result<ChatOptions, String> {
    let mut opts = ChatOptions::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                opts.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "--adapter" => opts.adapter = value()?,
            "--public" => opts.public_dir = PathBuf::from(value()?),
            _ => return Err(format!("unknown argument {flag:?}\n\n{USAGE}")),
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let opts = match parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let app = match chat::router(&opts) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = format!("127.0.0.1:{}", opts.port);
    match volley_examples::serve(app, &addr).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot serve on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags() {
        assert_eq!(parse(args("")), Ok(ChatOptions::default()));
        let opts = parse(args("--port 4000 --adapter=redis://h:1 --public /x")).expect("flags");
        assert_eq!(opts.port, 4000);
        assert_eq!(opts.adapter, "redis://h:1");
        assert_eq!(opts.public_dir, PathBuf::from("/x"));
        assert!(parse(args("--port")).is_err());
        assert!(parse(args("--port nope")).is_err());
        assert!(parse(args("--verbose")).is_err());
    }
}
