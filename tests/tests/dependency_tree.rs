//! The crates below the server know nothing of HTTP: the bus seam (`volley-cluster`), each
//! broker adapter and the emitter (for job workers) must not pull in the HTTP stack, the Admin
//! UI's password hashing, or the server crate itself. Runs `cargo tree` on each, with every
//! feature (which takes no build lock, so it does not wait for the `cargo test` that runs it).

use std::process::Command;

/// The normal (not dev) dependencies of `package` with all its features, one crate name a line.
fn tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["tree", "-p", package, "-e", "normal", "--all-features"])
        .args(["--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let crates: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        crates.iter().any(|c| c == package),
        "unexpected output: {crates:?}"
    );
    crates
}

/// Asserts that `package`'s tree has each of `expected` and none of the server's weight.
fn light(package: &str, expected: &[&str]) {
    let crates = tree(package);
    for name in expected {
        assert!(
            crates.iter().any(|c| c == name),
            "no {name} under {package}: {crates:?}"
        );
    }
    let heavy: Vec<&String> = crates
        .iter()
        .filter(|name| {
            ["axum", "hyper", "tower", "bcrypt"]
                .iter()
                .any(|p| name.starts_with(p))
                || name.as_str() == "volley"
        })
        .collect();
    assert!(heavy.is_empty(), "{package} depends on {heavy:?}");
}

#[test]
fn the_bus_seam_is_light() {
    light("volley-cluster", &["volley-protocol", "tokio"]);
}

#[test]
fn the_redis_adapter_is_light() {
    light("volley-redis", &["volley-cluster", "fred"]);
}

#[test]
fn the_amqp_adapter_is_light() {
    light("volley-amqp", &["volley-cluster", "lapin"]);
}

#[test]
fn the_kafka_adapter_is_light() {
    light("volley-kafka", &["volley-cluster", "rdkafka"]);
}

#[test]
fn the_nats_adapter_is_light() {
    light("volley-nats", &["volley-cluster", "async-nats"]);
}

#[test]
fn the_emitter_is_light() {
    // It publishes through the adapters' buses: every adapter, and so every broker client, is
    // in this tree, and the check covers them too.
    light(
        "volley-emitter",
        &[
            "volley-protocol",
            "volley-cluster",
            "volley-redis",
            "volley-amqp",
            "volley-kafka",
            "volley-nats",
            "fred",
            "lapin",
            "rdkafka",
            "async-nats",
        ],
    );
}

/// The check itself can fail: the server's tree has what the others must not.
#[test]
fn the_server_is_not() {
    let crates = tree("volley");
    assert!(crates.iter().any(|c| c == "axum"), "{crates:?}");
}
