//! The emitter is for job workers: its dependency tree, with every transport enabled, must not
//! pull in the HTTP stack or the server crate (nor the cluster adapters, which depend on it).
//! Runs `cargo tree` (which takes no build lock, so it does not wait for the `cargo test` that
//! runs it).

use std::process::Command;

#[test]
fn no_http_stack_in_the_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "volley-emitter",
            "-e",
            "normal",
            "--all-features",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run cargo tree");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let crates: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"volley-emitter"),
        "unexpected output:\n{stdout}"
    );
    // Every transport is in this tree: the check covers their clients too.
    for name in ["volley-protocol", "fred", "lapin", "rdkafka"] {
        assert!(crates.contains(&name), "no {name} in:\n{stdout}");
    }
    let heavy: Vec<&&str> = crates
        .iter()
        .filter(|name| {
            ["axum", "hyper", "tower"]
                .iter()
                .any(|p| name.starts_with(p))
                || ["volley", "volley-redis", "volley-amqp", "volley-kafka"].contains(name)
        })
        .collect();
    assert!(
        heavy.is_empty(),
        "the emitter depends on {heavy:?}:\n{stdout}"
    );
}
