//! The Rust example of `docs/webhooks.md` ("Verifying signatures"), kept in `example.rs` exactly
//! as the page shows it, run on requests signed by tributary's own signing code.

mod example;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tributary_server::webhooks::signature::{SigningKey, generate_secret, signature_header};

const ID: &str = "msg_sub1a2b_000000000101";
const NOW: i64 = 1_796_459_325;
const BODY: &[u8] =
    r#"{"type":"events","data":{"events":[{"object":{"path":"/Équipe/報告 🎉.docx"}}]}}"#
        .as_bytes();

/// A fresh secret and its key bytes, decoded as the page says.
fn secret() -> (String, Vec<u8>) {
    let secret = generate_secret().unwrap();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    (secret, key)
}

fn header(secrets: &[&str], ts: i64, body: &[u8]) -> String {
    let keys: Vec<SigningKey> = secrets
        .iter()
        .map(|s| SigningKey::parse(s).unwrap())
        .collect();
    signature_header(&keys, ID, ts, body)
}

#[test]
fn the_docs_show_the_example_as_tested() {
    let page = include_str!("../../docs/webhooks.md");
    let section = page
        .split_once("\n## Verifying signatures\n")
        .expect("the page has the section")
        .1;
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split_once("```rust\n")
        .expect("the section has a Rust example")
        .1
        .split_once("```")
        .unwrap()
        .0;
    assert_eq!(block, include_str!("webhook_verify_example/example.rs"));
}

#[test]
fn accepts_the_standard_webhooks_test_vector() {
    let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let body = br#"{"test": 2432232314}"#;
    let (id, ts) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330");
    assert!(example::verify(&key, id, ts, sig, body, 1_614_265_330));
    assert!(!example::verify(
        &key,
        id,
        ts,
        sig,
        br#"{"test": 2432232315}"#,
        1_614_265_330
    ));
}

#[test]
fn accepts_what_tributary_signs_and_either_secret_of_a_rotation() {
    let (old, old_key) = secret();
    let (new, new_key) = secret();
    let ts = NOW.to_string();
    let single = header(&[&old], NOW, BODY);
    assert!(example::verify(&old_key, ID, &ts, &single, BODY, NOW));
    let rotation = header(&[&new, &old], NOW, BODY);
    assert_eq!(rotation.split(' ').count(), 2);
    assert!(example::verify(&old_key, ID, &ts, &rotation, BODY, NOW));
    assert!(example::verify(&new_key, ID, &ts, &rotation, BODY, NOW));
    // Within the 5 minutes either way.
    assert!(example::verify(&old_key, ID, &ts, &single, BODY, NOW + 300));
    assert!(example::verify(&old_key, ID, &ts, &single, BODY, NOW - 300));
}

#[test]
fn refuses_tampered_stale_and_malformed_requests() {
    let (old, key) = secret();
    let (_, other_key) = secret();
    let ts = NOW.to_string();
    let sig = header(&[&old], NOW, BODY);
    let mut tampered = BODY.to_vec();
    tampered[20] ^= 0x01;
    assert!(!example::verify(&key, ID, &ts, &sig, &tampered, NOW));
    assert!(!example::verify(&other_key, ID, &ts, &sig, BODY, NOW));
    assert!(!example::verify(&key, "msg_other", &ts, &sig, BODY, NOW));
    // Stale or from the future: refused although the signature is right.
    assert!(!example::verify(&key, ID, &ts, &sig, BODY, NOW + 301));
    assert!(!example::verify(&key, ID, &ts, &sig, BODY, NOW - 301));
    // A timestamp moved to look fresh breaks the signature.
    let moved = (NOW + 600).to_string();
    assert!(!example::verify(&key, ID, &moved, &sig, BODY, NOW + 600));
    // Malformed headers are refused, never a panic.
    let good = sig.strip_prefix("v1,").unwrap();
    for bad in [
        "",
        "v1",
        "v1,",
        "v1,not base64!",
        &format!("v2,{good}"),
        &format!("v1a,{good}"),
    ] {
        assert!(!example::verify(&key, ID, &ts, bad, BODY, NOW), "{bad:?}");
    }
    for bad_ts in [
        "",
        "x",
        "1.5",
        "-9223372036854775808",
        "99999999999999999999",
    ] {
        assert!(
            !example::verify(&key, ID, bad_ts, &sig, BODY, NOW),
            "{bad_ts:?}"
        );
    }
}
