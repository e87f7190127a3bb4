//! API keys: who may use a gateway, and whose a queued job is.
//!
//! A key is 32 random bytes written as `airq_` + 64 hex digits, shown once to the person it is made for. The
//! gateway keeps only its SHA-256, in a keys file with one `NAME sha256:HEX` line per key (blank lines and `#`
//! comments allowed), so a copy of that file (or of a machine's user data) lets nobody in. A plain, fast hash is
//! enough here, unlike for passwords: a key has 256 bits of entropy, so there is nothing to guess from its hash,
//! and checking a request costs one SHA-256 of a short string.
//!
//! The name is the key's identity: rate limits count per name, and a queued job belongs to the name that
//! created it. Names are unique in a file: rotating a person's key is replacing their line (the old key stops
//! working when the gateway next starts).

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// What a key starts with: recognisable in a leaked log or a config file, and by secret scanners.
pub const KEY_PREFIX: &str = "airq_";

/// The keys a gateway accepts, by hash.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_hash: HashMap<[u8; 32], String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("reading the API keys file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("API keys file line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("the API keys file has no keys: nobody could use the gateway (add one with `airq-gateway new-api-key NAME`)")]
    Empty,
}

impl ApiKeys {
    /// Reads a keys file.
    pub fn load(path: &Path) -> Result<ApiKeys, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: path.display().to_string(),
            source,
        })?;
        ApiKeys::parse(&text)
    }

    /// Parses a keys file's text: `NAME sha256:HEX` per line.
    pub fn parse(text: &str) -> Result<ApiKeys, KeysError> {
        let mut keys = ApiKeys::default();
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let bad = |reason: String| KeysError::Line {
                line: line_no,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(name), Some(hash), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected `NAME sha256:HEX`".into()));
            };
            check_name(name).map_err(bad)?;
            let hex_digits = hash
                .strip_prefix("sha256:")
                .ok_or_else(|| bad("the hash must start with `sha256:`".into()))?;
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex_digits, &mut digest)
                .map_err(|_| bad("the hash must be 64 hex digits".into()))?;
            if keys.by_hash.values().any(|existing| existing == name) {
                return Err(bad(format!("the name {name:?} is used twice")));
            }
            if keys.by_hash.insert(digest, name.to_string()).is_some() {
                return Err(bad("the same key is listed twice".into()));
            }
        }
        if keys.by_hash.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(keys)
    }

    /// The name of the key presented, if it is one of ours.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        self.by_hash.get(&digest(presented)).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// A key name: 1-64 of `A-Z a-z 0-9 _ . - @`, so it is safe in logs, metrics labels and a file's columns.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name {name:?} must be 1-64 of letters, digits and _ . - @"
        ))
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key.
pub fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// The keys-file line for `name` holding `key`.
pub fn file_line(name: &str, key: &str) -> String {
    format!("{name} sha256:{}", hex::encode(digest(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_identified_by_its_line_and_nothing_else_is() {
        let key = new_key();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 64);
        let other = new_key();
        let text = format!(
            "# team keys\n\n{}\n  {}  \n",
            file_line("alice", &key),
            file_line("bob", &other)
        );
        let keys = ApiKeys::parse(&text).expect("parses");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.identify(&key), Some("alice"));
        assert_eq!(keys.identify(&other), Some("bob"));
        assert_eq!(keys.identify(""), None);
        assert_eq!(keys.identify(&key[..key.len() - 1]), None);
        assert_eq!(keys.identify(&new_key()), None);
        assert!(
            !text.contains(&key[KEY_PREFIX.len()..]),
            "the file holds no key"
        );
    }

    #[test]
    fn bad_files_are_refused_with_their_line() {
        let key = new_key();
        let line = file_line("alice", &key);
        for (text, line_no) in [
            ("alice".to_string(), Some(1)),
            ("alice sha1:abcd".to_string(), Some(1)),
            ("alice sha256:zz".to_string(), Some(1)),
            (format!("# c\nal ice {}", &line[6..]), Some(2)),
            (format!("{line}\n{line}"), Some(2)),
            (format!("{line}\n{}", file_line("bob", &key)), Some(2)),
            ("bad/name sha256:00".to_string(), Some(1)),
            ("# only comments\n".to_string(), None),
        ] {
            match (ApiKeys::parse(&text), line_no) {
                (Err(KeysError::Line { line, .. }), Some(expected)) => {
                    assert_eq!(line, expected, "{text:?}")
                }
                (Err(KeysError::Empty), None) => {}
                (other, _) => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
