//! Who may use a stack's gateways: API keys, required unless the operator opts out in so many words.
//!
//! `up` and `plan` take `--api-keys FILE`, a keys file as `airq_common::api_keys` defines it (`NAME sha256:HEX`
//! lines, written by `airq-gateway new-api-key NAME >> FILE`), or `--no-api-keys`; with neither they refuse, so a
//! stack is never left open by an omission. The file is checked by the gateway's own parser before anything is
//! made, then reduced to its hash lines, sorted by name: comments never reach an instance (a comment may say
//! anything, a key included), and the same keys give the same user data however the file is ordered or
//! commented, so a second `up` stays a no-op while a changed key is a changed launch template.
//!
//! A gateway instance is tagged with what it was given ([`GatewayAccess::tag`]), which `status` reads back from
//! the instance descriptions it already fetches.

use std::fmt;
use std::path::Path;

use airq_common::api_keys::{ApiKeys, KeysError, KEY_PREFIX};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::DeployError;

/// Where a gateway instance keeps its keys file (hashes only), readable by the `airq` service user.
pub const KEYS_PATH: &str = "/etc/airq/api-keys";

/// Who may use the gateways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayAccess {
    /// Every API request needs one of these keys.
    Keys(KeysFile),
    /// `--no-api-keys`: anyone `--allow-cidr` lets in may query (and read any queued answer).
    Open,
}

/// A keys file reduced to what a gateway needs: one `NAME sha256:HEX` line per key, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysFile {
    lines: Vec<String>,
}

/// Why a keys file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    /// The gateway's own parser refused it (the line and the reason).
    #[error(transparent)]
    Parse(#[from] KeysError),
    /// A key itself, where only its hash belongs (most likely `new-api-key`'s stderr went into the file).
    #[error(
        "line {line} holds an API key itself, not its hash: remove it (the file holds only `NAME sha256:HEX` \
         lines, which `airq-gateway new-api-key NAME >> FILE` appends) and hand that key out no further"
    )]
    HoldsKey { line: usize },
}

impl KeysFile {
    /// Checks a keys file's text and keeps its key lines.
    pub fn parse(text: &str) -> Result<KeysFile, KeysFileError> {
        if let Some(line) = text.lines().position(holds_key) {
            return Err(KeysFileError::HoldsKey { line: line + 1 });
        }
        ApiKeys::parse(text)?;
        // Valid by the parse above: every other line is `NAME sha256:HEX`.
        let mut lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let mut fields = l.split_whitespace();
                let (name, hash) = (fields.next()?, fields.next()?);
                Some(format!("{name} {}", hash.to_ascii_lowercase()))
            })
            .collect();
        lines.sort();
        Ok(KeysFile { lines })
    }

    /// The `NAME sha256:HEX` lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The file as instances get it.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// 8 hex digits of the SHA-256 of [`text`](Self::text): tells two versions of the file apart in `status`
    /// (after a rotation, which gateways still run the old one) without showing any of it.
    pub fn fingerprint(&self) -> String {
        crate::plan::hex(&Sha256::digest(self.text().as_bytes()))[..8].to_string()
    }
}

/// Whether a line holds something shaped like a key: the prefix and 64 hex digits.
fn holds_key(line: &str) -> bool {
    line.match_indices(KEY_PREFIX).any(|(at, _)| {
        let rest = &line.as_bytes()[at + KEY_PREFIX.len()..];
        rest.len() >= 64 && rest[..64].iter().all(u8::is_ascii_hexdigit)
    })
}

impl GatewayAccess {
    /// The access `--api-keys FILE` / `--no-api-keys` ask for; neither is an error that says how to make keys.
    pub fn from_flags(api_keys: Option<&Path>, no_api_keys: bool) -> Result<Self, DeployError> {
        match (api_keys, no_api_keys) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|source| DeployError::Io {
                    what: format!("reading --api-keys {}", path.display()),
                    source,
                })?;
                KeysFile::parse(&text)
                    .map(GatewayAccess::Keys)
                    .map_err(|source| DeployError::ApiKeys {
                        path: path.display().to_string(),
                        source,
                    })
            }
            (None, true) => Ok(GatewayAccess::Open),
            (None, false) => Err(DeployError::NoApiKeys),
        }
    }

    /// The gateway's arguments for this access. Either one is needed: a gateway listening beyond loopback
    /// refuses to start without being told.
    pub fn gateway_args(&self) -> Vec<String> {
        match self {
            GatewayAccess::Keys(_) => vec!["--api-keys".into(), KEYS_PATH.into()],
            GatewayAccess::Open => vec!["--no-api-keys".into()],
        }
    }

    /// The value of the gateway instances' [`TAG_API`](crate::stack::TAG_API) tag: `keys:<count>:<fingerprint>`
    /// or `open`.
    pub fn tag(&self) -> String {
        match self {
            GatewayAccess::Keys(k) => format!("keys:{}:{}", k.len(), k.fingerprint()),
            GatewayAccess::Open => "open".into(),
        }
    }
}

/// What a gateway instance was launched with, as `status` reads it back from its tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum ApiMode {
    Keys { keys: usize, fingerprint: String },
    Open,
}

impl ApiMode {
    /// Parses a [`GatewayAccess::tag`] value; `None` for anything else.
    pub fn from_tag(tag: &str) -> Option<ApiMode> {
        if tag == "open" {
            return Some(ApiMode::Open);
        }
        let mut parts = tag.strip_prefix("keys:")?.splitn(2, ':');
        let keys = parts.next()?.parse().ok()?;
        let fingerprint = parts.next()?.to_string();
        Some(ApiMode::Keys { keys, fingerprint })
    }
}

impl fmt::Display for ApiMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiMode::Keys { keys, fingerprint } => {
                write!(f, "API keys required ({keys} keys, file {fingerprint})")
            }
            ApiMode::Open => write!(f, "API open to anyone --allow-cidr lets in (--no-api-keys)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airq_common::api_keys::{file_line, new_key};

    #[test]
    fn the_file_is_reduced_to_sorted_hash_lines() {
        let (alice, bob) = (new_key(), new_key());
        // Upper-case hex is accepted and written lower-case.
        let bob_line = file_line("bob", &bob);
        let (head, digits) = bob_line.split_at(bob_line.len() - 64);
        let text = format!(
            "# team keys\n\n  {head}{}  \n{}\n",
            digits.to_uppercase(),
            file_line("alice", &alice)
        );
        let keys = KeysFile::parse(&text).expect("parses");
        assert_eq!(
            keys.lines(),
            [file_line("alice", &alice), file_line("bob", &bob)]
        );
        assert_eq!(keys.len(), 2);
        // The same keys in another order, commented otherwise: the same file, the same fingerprint.
        let again = KeysFile::parse(&format!(
            "{}\n# other comment\n{}\n",
            file_line("alice", &alice),
            file_line("bob", &bob)
        ))
        .expect("parses");
        assert_eq!(again, keys);
        assert_eq!(again.fingerprint(), keys.fingerprint());
        let text = keys.text();
        assert!(!text.contains(&alice[KEY_PREFIX.len()..]) && !text.contains(&bob));
    }

    #[test]
    fn a_key_in_the_file_is_refused_naming_its_line() {
        let key = new_key();
        for text in [
            format!("{}\n{key}\n", file_line("alice", &new_key())),
            format!("{}\n# alice: {key}\n", file_line("alice", &new_key())),
        ] {
            match KeysFile::parse(&text) {
                Err(KeysFileError::HoldsKey { line: 2 }) => {}
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        // A name that merely starts with the prefix is a name.
        assert!(KeysFile::parse(&file_line("airq_ops", &key)).is_ok());
    }

    #[test]
    fn flags_choose_the_access() {
        assert!(matches!(
            GatewayAccess::from_flags(None, false),
            Err(DeployError::NoApiKeys)
        ));
        assert_eq!(
            GatewayAccess::from_flags(None, true).expect("open"),
            GatewayAccess::Open
        );
        assert_eq!(GatewayAccess::Open.gateway_args(), ["--no-api-keys"]);
    }

    #[test]
    fn tags_round_trip() {
        let keys = KeysFile::parse(&file_line("alice", &new_key())).expect("parses");
        let access = GatewayAccess::Keys(keys.clone());
        assert_eq!(
            ApiMode::from_tag(&access.tag()),
            Some(ApiMode::Keys {
                keys: 1,
                fingerprint: keys.fingerprint()
            })
        );
        assert_eq!(
            ApiMode::from_tag(&GatewayAccess::Open.tag()),
            Some(ApiMode::Open)
        );
        for bad in ["", "keys", "keys:x:ab", "closed"] {
            assert_eq!(ApiMode::from_tag(bad), None, "{bad}");
        }
    }
}
