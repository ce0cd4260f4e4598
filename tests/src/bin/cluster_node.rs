//! One node of a test cluster: `cluster_node --adapter URL --prefix P --name N` serves the test
//! node app (`volley_tests::cluster_app`) on a free loopback port and prints
//! `listening http://127.0.0.1:PORT` once its bus subscription is in place; `--recovery` turns
//! connection state recovery on; `--forward` advertises the node's address to the others, which
//! then forward it the requests of its sessions (no sticky sessions).

use std::time::Duration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

#[tokio::main]
async fn main() {
    // Errors only, unless RUST_LOG says otherwise; and not lapin's: the fault tests kill brokers
    // under running nodes, and the AMQP adapter reports each loss itself (target
    // `volley::cluster`), while lapin logs the same event as an ERROR of its own.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,lapin=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let (Some(url), Some(prefix), Some(name)) = (arg("--adapter"), arg("--prefix"), arg("--name"))
    else {
        eprintln!("usage: cluster_node --adapter URL --prefix PREFIX --name NAME");
        std::process::exit(2);
    };
    let listener = match volley::serve::Listener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cluster_node: cannot listen: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let forward = std::env::args().any(|a| a == "--forward");
    let config =
        volley_tests::cluster::test_config(&prefix).advertise(forward.then(|| addr.clone()));
    let manager = match volley::manager::from_url(&url, config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cluster_node: {e}");
            std::process::exit(2);
        }
    };
    let recovery = std::env::args().any(|a| a == "--recovery");
    let io = volley_tests::cluster_app::server_with(&name, manager, recovery);
    // give the subscription a moment: the cluster suite also waits for every node to count all
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("listening http://{addr}");
    let app = volley_tests::cluster_app::router(&io);
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("cluster_node: {e}");
        std::process::exit(1);
    }
}
