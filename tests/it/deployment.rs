//! Insecure by default no more: the real binary in production mode refuses to start
//! without real keys, or with the development keys earlier versions shipped as constants.

use sha2::{Digest, Sha256};

fn serve_in_production(env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_delightchat"));
    command
        .arg("serve")
        .env_remove("JWT_SECRET")
        .env_remove("SECRET_KEY")
        .env("APP_ENV", "production")
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/never")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn production_refuses_to_start_without_real_keys() {
    let output = serve_in_production(&[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_SECRET: required in production"),
        "{stderr}"
    );
}

#[test]
fn production_refuses_to_start_with_the_old_public_development_keys() {
    let public_jwt = hex::encode(Sha256::digest("delightchat insecure development jwt"));
    let public_key = hex::encode(Sha256::digest(
        "delightchat insecure development secret-key",
    ));
    // The old JWT key was the raw digest; as text it is not the same bytes, so check the
    // encryption key, which is configured as hex of exactly those bytes.
    let output = serve_in_production(&[("JWT_SECRET", &public_jwt), ("SECRET_KEY", &public_key)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("development key"), "{stderr}");
}
