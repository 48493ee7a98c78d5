//! API cursors: an opaque, URL-safe position in one store's unified log.

use crate::Seq;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;

const VERSION: u8 = 1;
const LEN: usize = 1 + 8 + 8 + 2;

/// Why a cursor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("malformed cursor {cursor:?}: {reason}")]
    Malformed {
        cursor: String,
        reason: &'static str,
    },
    /// Issued for another stream: another tenant's, another store's, or one whose data was
    /// reset. The message does not say which, so it tells a caller nothing about other tenants.
    #[error("cursor {cursor:?} was not issued for this stream")]
    Foreign { cursor: String },
}

/// A position in one tenant's stream: "everything after `seq`". `seq` 0 is the very beginning.
///
/// It carries the key of the stream that issued it (`epoch`: derived by the store from its own
/// random epoch, fixed when the store is created, and the tenant), so a cursor of another
/// tenant, of another store, or from before a reset, is refused rather than silently pointing at
/// unrelated events. Encoded as 26 URL-safe characters with a checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The key of the stream that issued the cursor.
    pub epoch: u64,
    /// The last position already consumed.
    pub seq: Seq,
}

impl Cursor {
    pub fn new(epoch: u64, seq: Seq) -> Self {
        Self { epoch, seq }
    }

    pub fn encode(&self) -> String {
        let mut bytes = [0u8; LEN];
        bytes[0] = VERSION;
        bytes[1..9].copy_from_slice(&self.epoch.to_be_bytes());
        bytes[9..17].copy_from_slice(&self.seq.to_be_bytes());
        let sum = checksum(&bytes[..17]);
        bytes[17..].copy_from_slice(&sum.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes any well-formed cursor, whatever store issued it.
    pub fn parse(s: &str) -> Result<Self, CursorError> {
        let malformed = |reason| CursorError::Malformed {
            cursor: s.to_owned(),
            reason,
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| malformed("not URL-safe base64"))?;
        if bytes.len() != LEN {
            return Err(malformed("wrong length"));
        }
        if bytes[0] != VERSION {
            return Err(malformed("unknown version"));
        }
        if checksum(&bytes[..17]).to_be_bytes() != bytes[17..] {
            return Err(malformed(
                "checksum mismatch (the cursor was altered or truncated)",
            ));
        }
        let mut epoch = [0u8; 8];
        epoch.copy_from_slice(&bytes[1..9]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[9..17]);
        Ok(Self {
            epoch: u64::from_be_bytes(epoch),
            seq: Seq(u64::from_be_bytes(seq)),
        })
    }

    /// Decodes a cursor and checks that the stream with the key `epoch` issued it.
    pub fn decode(s: &str, epoch: u64) -> Result<Self, CursorError> {
        let cursor = Self::parse(s)?;
        if cursor.epoch != epoch {
            return Err(CursorError::Foreign {
                cursor: s.to_owned(),
            });
        }
        Ok(cursor)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// Fletcher-16 over the payload: catches truncation, typos and swapped characters.
fn checksum(bytes: &[u8]) -> u16 {
    let (mut a, mut b) = (0u16, 0u16);
    for &x in bytes {
        a = (a + u16::from(x)) % 255;
        b = (b + a) % 255;
    }
    (b << 8) | a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn is_url_safe_and_fixed_length() {
        let s = Cursor::new(u64::MAX, Seq(u64::MAX)).encode();
        assert_eq!(s.len(), 26);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{s}"
        );
    }

    #[test]
    fn refuses_a_cursor_from_another_store() {
        let s = Cursor::new(1, Seq(5)).encode();
        assert_eq!(Cursor::decode(&s, 1).unwrap(), Cursor::new(1, Seq(5)));
        assert_eq!(
            Cursor::decode(&s, 2),
            Err(CursorError::Foreign { cursor: s.clone() })
        );
    }

    #[test]
    fn refuses_malformed_cursors_with_a_reason() {
        let reason = |s: &str| match Cursor::parse(s) {
            Err(CursorError::Malformed { reason, .. }) => reason,
            other => panic!("{s:?} gave {other:?}"),
        };
        assert_eq!(reason("***"), "not URL-safe base64");
        assert_eq!(reason("AAAA"), "wrong length");
        let good = Cursor::new(9, Seq(12345)).encode();
        let mut altered = good.clone().into_bytes();
        altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            reason(std::str::from_utf8(&altered).unwrap()),
            "checksum mismatch (the cursor was altered or truncated)"
        );
    }

    proptest! {
        #[test]
        fn round_trips(epoch: u64, seq: u64) {
            let c = Cursor::new(epoch, Seq(seq));
            prop_assert_eq!(Cursor::decode(&c.encode(), epoch).unwrap(), c);
        }
    }
}
