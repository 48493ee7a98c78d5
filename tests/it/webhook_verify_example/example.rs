use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};

/// Whether a request is genuine and fresh. `key`: the secret's bytes (base64-decoded after
/// `whsec_`); `id`, `ts`, `sigs`: the `webhook-id`, `-timestamp` and `-signature` headers;
/// `now`: Unix seconds.
pub fn verify(key: &[u8], id: &str, ts: &str, sigs: &str, body: &[u8], now: i64) -> bool {
    let fresh = ts.parse::<i64>().is_ok_and(|t| now.abs_diff(t) <= 5 * 60);
    let signed_with_key = |sig: Vec<u8>| {
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
            return false;
        };
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&sig).is_ok() // constant-time
    };
    let mut v1 = sigs.split(' ').filter_map(|s| s.strip_prefix("v1,"));
    fresh && v1.any(|s| STANDARD.decode(s).is_ok_and(signed_with_key))
}
