//! The emitter is for job workers: its dependency tree must not pull in the HTTP stack or the
//! server crate. Runs `cargo tree` (which takes no build lock, so it does not wait for the
//! `cargo test` that runs it).

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
    assert!(
        crates.contains(&"volley-protocol"),
        "unexpected output:\n{stdout}"
    );
    let heavy: Vec<&&str> = crates
        .iter()
        .filter(|name| {
            ["axum", "hyper", "tower"]
                .iter()
                .any(|p| name.starts_with(p))
                || **name == "volley"
        })
        .collect();
    assert!(
        heavy.is_empty(),
        "the emitter depends on {heavy:?}:\n{stdout}"
    );
}
