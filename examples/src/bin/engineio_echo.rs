//! Serves the bare Engine.IO echo endpoint on 127.0.0.1:3000 (`--port` to change).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let addr = format!("127.0.0.1:{}", volley_examples::port_arg(3000));
    volley_examples::serve(volley_examples::engineio_echo::router(), &addr).await
}
