//! The chat server's command line, shared by the `chat` binary and the test binaries that run
//! the same server.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::chat::{self, ChatOptions};

/// The flags, as `--help` prints them.
pub const USAGE: &str = "usage: chat [--host ADDR] [--port N] [--adapter URL] [--public DIR]
            [--admin USER:PASSWORD] [--metrics] [--no-recovery] [--allow-eio3]
            [--http-compression on|off] [--advertise HOST:PORT]

  --host ADDR    address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
  --port N       TCP port (default 3000)
  --adapter URL  how server nodes share rooms and emits: memory (default: one node),
                 redis://host:port, amqp://user:password@host:port, kafka://host:port;
                 ?key=NAME keeps deployments that share a broker apart
  --public DIR   the examples/chat directory: public/ and node_modules/ (default: the source tree's)
  --admin USER:PASSWORD
                 serve the Socket.IO Admin UI's namespace /admin; the hosted UI
                 (https://admin.socket.io) may connect; the password may be a bcrypt hash
  --metrics      serve Prometheus metrics at /metrics
  --no-recovery  turn connection state recovery off (on by default: a page whose connection
                 drops for a moment gets its rooms and every message it missed back)
  --allow-eio3   accept socket.io-client 2.x (Engine.IO v3) as well as current clients
  --http-compression on|off
                 gzip / deflate long-polling responses of 1024 bytes or more (default on;
                 WebSocket messages are not compressed: no permessage-deflate)
  --advertise HOST:PORT
                 where the other nodes reach this one (a cluster adapter): given to every
                 node, the load balancer needs no sticky sessions, as a node hands the
                 requests of a session it does not hold to the node that does";

/// Reads the flags (`--flag value` or `--flag=value`); `Err` carries the message to print.
///
/// ```
/// let opts = volley_examples::cli::parse(["--port=4000", "--host", "0.0.0.0"].map(String::from)).unwrap();
/// assert_eq!((opts.host.as_str(), opts.port), ("0.0.0.0", 4000));
/// assert!(volley_examples::cli::parse(["--port".to_owned()]).is_err());
/// ```
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ChatOptions, String> {
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
        if flag == "--metrics" && inline.is_none() {
            opts.metrics = true;
            continue;
        }
        if flag == "--no-recovery" && inline.is_none() {
            opts.recovery = false;
            continue;
        }
        if flag == "--ws-deflate" {
            return Err(
                "--ws-deflate: not available: the WebSocket stack (tungstenite, under \
                        axum) has no permessage-deflate; long-polling responses are compressed \
                        (--http-compression)"
                    .to_owned(),
            );
        }
        if flag == "--allow-eio3" && inline.is_none() {
            opts.allow_eio3 = true;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "--host" => opts.host = value()?,
            "--port" => {
                let v = value()?;
                opts.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "--adapter" => opts.adapter = value()?,
            "--advertise" => opts.advertise = Some(value()?),
            "--http-compression" => {
                opts.http_compression = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--http-compression: on or off, not {other:?}")),
                }
            }
            "--public" => opts.public_dir = PathBuf::from(value()?),
            "--admin" => {
                let v = value()?;
                let (user, password) = v
                    .split_once(':')
                    .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                    .ok_or_else(|| format!("--admin: expected USER:PASSWORD, got {v:?}"))?;
                opts.admin = Some((user.to_owned(), password.to_owned()));
            }
            _ => return Err(format!("unknown argument {flag:?}\n\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// Parses `args`, then serves the chat until the process ends; the exit code says how it went
/// (2 for bad flags).
pub async fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let opts = match parse(args) {
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
    let addr = format!("{}:{}", opts.host, opts.port);
    if opts.admin.is_some() {
        tracing::info!(
            "Admin UI: open {} and connect to http://{addr} (namespace /admin)",
            chat::ADMIN_UI_ORIGIN
        );
    }
    if opts.metrics {
        tracing::info!("metrics: http://{addr}/metrics");
    }
    match crate::serve(app, &addr).await {
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

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags() {
        let opts = parse(args(
            "--port 4000 --adapter=redis://h:1 --public /x --host 0.0.0.0",
        ))
        .expect("flags");
        assert_eq!(opts.port, 4000);
        assert_eq!(opts.adapter, "redis://h:1");
        assert_eq!(opts.public_dir, PathBuf::from("/x"));
        assert_eq!(opts.host, "0.0.0.0");
        assert_eq!(parse(args("")).expect("defaults").host, "127.0.0.1");
        assert!(parse(args("--port")).is_err());
        assert!(parse(args("--port nope")).is_err());
        assert!(parse(args("--what")).is_err());
        assert!(parse(args("--help")).is_err());
        assert!(parse(args("--port 1")).expect("flags").recovery);
        assert!(!parse(args("--no-recovery")).expect("flags").recovery);
        assert!(!parse(args("")).expect("flags").allow_eio3);
        assert!(parse(args("--allow-eio3")).expect("flags").allow_eio3);
        assert!(parse(args("")).expect("flags").http_compression);
        assert_eq!(parse(args("")).expect("flags").advertise, None);
        assert_eq!(
            parse(args("--advertise node1:3000"))
                .expect("flags")
                .advertise
                .as_deref(),
            Some("node1:3000")
        );
        assert!(
            !parse(args("--http-compression=off"))
                .expect("flags")
                .http_compression
        );
        assert!(
            parse(args("--http-compression on"))
                .expect("flags")
                .http_compression
        );
        assert!(parse(args("--http-compression maybe")).is_err());
        assert!(parse(args("--ws-deflate")).is_err());
        let opts = parse(args("--admin admin:$2b$10$x:y --metrics")).expect("flags");
        assert_eq!(
            opts.admin,
            Some(("admin".to_owned(), "$2b$10$x:y".to_owned()))
        );
        assert!(opts.metrics);
        assert!(parse(args("--admin nocolon")).is_err());
        assert!(parse(args("--admin :pw")).is_err());
    }
}
