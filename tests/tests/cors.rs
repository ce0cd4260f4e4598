//! CORS and same-origin checks of Volley's own builder options (separate: each test builds its
//! own Volley server with different options, so these never run against an external server).

use volley::{Server, Transport};
use volley_tests::server::TestServer;
use volley_tests::wire::{Handshake, Polling, Ws, WsConnect};
use volley_tests::{bail, engineio_cases, TestResult};

const HANDSHAKE: &str = "EIO=4&transport=polling";
const FOREIGN: &str = "http://evil.example";

async fn serve(io: Server) -> TestResult<(TestServer, Polling)> {
    let server = TestServer::spawn(io.router()).await?;
    let polling = Polling::new(&server, "/socket.io/");
    Ok((server, polling))
}

fn default_server() -> Server {
    let io = Server::builder()
        .transports([Transport::Polling, Transport::Websocket])
        .build();
    io.of("/");
    io
}

async fn handshake_with_origin(
    polling: &Polling,
    origin: &str,
) -> TestResult<volley_tests::wire::HttpReply> {
    polling
        .request(reqwest::Method::GET, HANDSHAKE, None, &[("origin", origin)])
        .await
}

fn expect_open(reply: &volley_tests::wire::HttpReply, what: &str) -> TestResult {
    if reply.status != 200 {
        bail!(
            "{what}: expected 200, got {} {:?}",
            reply.status,
            reply.body
        );
    }
    Handshake::parse(&reply.body)?;
    Ok(())
}

#[tokio::test]
async fn default_rejects_foreign_origin() -> TestResult {
    let (_server, polling) = serve(default_server()).await?;
    let reply = handshake_with_origin(&polling, FOREIGN).await?;
    if reply.status != 400 {
        bail!(
            "Origin {FOREIGN} on a same-origin server: expected 400, got {} {:?}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn default_rejects_foreign_origin_on_websocket() -> TestResult {
    let (server, _) = serve(default_server()).await?;
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", server.ws_url());
    match Ws::connect(&url, &[("origin", FOREIGN)]).await? {
        WsConnect::Refused(400) => Ok(()),
        WsConnect::Refused(status) => bail!("expected 400, got {status}"),
        WsConnect::Open(mut ws) => {
            let frame = ws.next_frame().await?;
            bail!("WebSocket with Origin {FOREIGN} was accepted; first frame {frame:?}")
        }
    }
}

#[tokio::test]
async fn default_accepts_same_origin_and_no_origin() -> TestResult {
    let (server, polling) = serve(default_server()).await?;
    let same = format!("http://{}", server.authority());
    expect_open(
        &handshake_with_origin(&polling, &same).await?,
        "same origin",
    )?;
    expect_open(&polling.get(HANDSHAKE).await?, "no Origin header")?;
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", server.ws_url());
    match Ws::connect(&url, &[("origin", &same)]).await? {
        WsConnect::Open(mut ws) => match ws.next_frame().await? {
            volley_tests::wire::Frame::Text(t) if t.starts_with('0') => Ok(()),
            other => bail!("same-origin WebSocket: expected an open packet, got {other:?}"),
        },
        WsConnect::Refused(status) => bail!("same-origin WebSocket refused with {status}"),
    }
}

#[tokio::test]
async fn wildcard_accepts_any_origin() -> TestResult {
    let io = Server::builder().cors_allowed_origins("*").build();
    io.of("/");
    let (_server, polling) = serve(io).await?;
    let reply = handshake_with_origin(&polling, FOREIGN).await?;
    expect_open(&reply, "Origin with cors_allowed_origins(\"*\")")?;
    match reply.header("access-control-allow-origin") {
        Some("*") | Some(FOREIGN) => Ok(()),
        other => bail!("Access-Control-Allow-Origin: expected `*` or {FOREIGN:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn listed_origin_only() -> TestResult {
    let allowed = "http://allowed.example";
    let io = Server::builder().cors_allowed_origins(allowed).build();
    io.of("/");
    let (_server, polling) = serve(io).await?;
    let reply = handshake_with_origin(&polling, allowed).await?;
    expect_open(&reply, "listed origin")?;
    if reply.header("access-control-allow-origin") != Some(allowed) {
        bail!(
            "Access-Control-Allow-Origin: expected {allowed:?}, got {:?}",
            reply.header("access-control-allow-origin")
        );
    }
    let reply = handshake_with_origin(&polling, FOREIGN).await?;
    if reply.status != 400 {
        bail!(
            "unlisted Origin: expected 400, got {} {:?}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn preflight_answered() -> TestResult {
    let io = Server::builder().cors_allowed_origins("*").build();
    io.of("/");
    let (_server, polling) = serve(io).await?;
    let reply = polling
        .request(
            reqwest::Method::OPTIONS,
            HANDSHAKE,
            None,
            &[
                ("origin", FOREIGN),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .await?;
    if !(200..300).contains(&reply.status) {
        bail!(
            "OPTIONS preflight: expected 2xx, got {} {:?}",
            reply.status,
            reply.body
        );
    }
    match reply.header("access-control-allow-origin") {
        Some("*") | Some(FOREIGN) => {}
        other => bail!(
            "preflight Access-Control-Allow-Origin: expected `*` or {FOREIGN:?}, got {other:?}"
        ),
    }
    let methods = reply
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !methods.contains("POST") {
        bail!("preflight Access-Control-Allow-Methods must include POST, got {methods:?}");
    }
    Ok(())
}

/// The same Engine.IO checks hold on a server with default settings but CORS `*` (sanity check
/// that the CORS layer does not get in the way of a plain handshake).
#[tokio::test]
async fn wildcard_plain_handshake() -> TestResult {
    let io = Server::builder()
        .ping_interval(engineio_cases::PING_INTERVAL)
        .ping_timeout(engineio_cases::PING_TIMEOUT)
        .max_payload(engineio_cases::MAX_PAYLOAD)
        .cors_allowed_origins("*")
        .build();
    io.of("/");
    let (server, _) = serve(io).await?;
    let target = engineio_cases::Target {
        server: &server,
        path: "/socket.io/",
        flavor: engineio_cases::Flavor::SocketIo,
    };
    engineio_cases::handshake_polling_opens_session(&target).await
}
