//! `schema.graphql` is the checked-in API contract: it must equal the generated SDL.

#[test]
fn checked_in_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let generated = delightchat::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql` (or UPDATE_SCHEMA=1 cargo test)"
    );
}
