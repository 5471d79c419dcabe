//! Arbitrary bytes into the Meta delivery parser and the signature check: neither may
//! panic, hang or accept a forged signature.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = delightchat::webhooks::meta::parse(data);
    let (header, body) = data.split_at(data.len().min(71));
    let verdict = delightchat::webhooks::signature::verify(Some(header), body, b"fuzz-secret");
    if verdict.is_ok() {
        let genuine = delightchat::webhooks::signature::sign(body, b"fuzz-secret");
        assert!(header.eq_ignore_ascii_case(genuine.as_bytes()));
    }
});
