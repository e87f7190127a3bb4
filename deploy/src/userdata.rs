//! The EC2 user data of each role: `templates/user-data.sh` with the stack's values filled in.
//!
//! The template is plain bash kept in the repository (tests run shellcheck over every role's rendering). Values
//! are checked against a conservative character set before they are inserted, then single-quoted for the shell
//! and escaped for systemd, so no value can change the script's meaning.

use std::fmt::Write as _;
use std::time::Duration;

use crate::api_keys::KEYS_PATH;
use crate::stack::{Role, StackName};

const TEMPLATE: &str = include_str!("../templates/user-data.sh");

/// EC2 accepts at most 16 KiB of user data (before base64).
pub const MAX_USER_DATA: usize = 16 * 1024;

/// Everything an instance needs to install and run its role.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    pub stack: StackName,
    pub role: Role,
    pub region: String,
    /// `s3://bucket/key` or an `https://` URL of the artifact (a `.tar.gz` with `bin/airq-*`).
    pub artifact: String,
    /// Hex SHA-256 of the artifact, checked before it is unpacked when known.
    pub artifact_sha256: Option<String>,
    /// `KEY=value` settings of the role (systemd `EnvironmentFile`).
    pub environment: Vec<(String, String)>,
    /// Arguments of the role's binary.
    pub args: Vec<String>,
    /// The gateway's API keys file ([`KEYS_PATH`]): `NAME sha256:HEX` lines, the hashes of the keys, never a key.
    pub api_keys: Option<String>,
    /// How long systemd waits after SIGTERM before it kills the role (workers drain in this time).
    pub stop_timeout: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("{what} {value:?} has characters that are not allowed in instance settings (allowed: letters, digits and ._:/=@%+,?&~-)")]
    UnsafeValue { what: String, value: String },
    #[error("the user data is {0} bytes; EC2 allows {MAX_USER_DATA}")]
    TooLarge(usize),
    #[error("the template still has a placeholder: {0}")]
    Unfilled(String),
}

fn is_safe(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/=@%+,?&~-".contains(c))
}

fn check(what: &str, value: &str) -> Result<(), RenderError> {
    if is_safe(value) {
        Ok(())
    } else {
        Err(RenderError::UnsafeValue {
            what: what.to_string(),
            value: value.to_string(),
        })
    }
}

/// Single-quotes a value for bash.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The script lines that write the API keys file: into a new file that is never readable by others (umask),
/// then moved into place, so the gateway never reads half a file. Each line must be `NAME sha256:HEX` in the
/// allowed characters, so none can end the here-document or mean anything to the shell.
fn api_keys_block(keys: Option<&str>) -> Result<String, RenderError> {
    let Some(keys) = keys else {
        return Ok("# (none on this instance)".to_string());
    };
    for line in keys.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let well_formed = matches!(words.as_slice(), [_, hash] if hash.starts_with("sha256:"));
        if !well_formed || !words.iter().all(|w| is_safe(w)) {
            return Err(RenderError::UnsafeValue {
                what: "the API keys file line".into(),
                value: line.to_string(),
            });
        }
    }
    if keys.trim().is_empty() {
        return Err(RenderError::UnsafeValue {
            what: "the API keys file".into(),
            value: String::new(),
        });
    }
    Ok(format!(
        "(\n  umask 027\n  cat > {KEYS_PATH}.new <<'KEYS'\n{}\nKEYS\n)\nchown root:airq {KEYS_PATH}.new\nmv -f {KEYS_PATH}.new {KEYS_PATH}",
        keys.trim_end()
    ))
}

/// Escapes a word of a systemd command line: `%` starts a specifier there.
fn systemd_word(value: &str) -> String {
    value.replace('%', "%%")
}

impl Bootstrap {
    /// The user data script for this instance.
    pub fn render(&self) -> Result<String, RenderError> {
        check("the region", &self.region)?;
        check("the artifact location", &self.artifact)?;
        let sha = self.artifact_sha256.clone().unwrap_or_default();
        let sha_ok =
            sha.is_empty() || (sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()));
        if !sha_ok {
            return Err(RenderError::UnsafeValue {
                what: "the artifact SHA-256".into(),
                value: sha,
            });
        }
        let mut environment = String::new();
        for (key, value) in &self.environment {
            if !key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                || key.is_empty()
            {
                return Err(RenderError::UnsafeValue {
                    what: "the setting name".into(),
                    value: key.clone(),
                });
            }
            check(key, value)?;
            let _ = writeln!(environment, "{key}={value}");
        }
        let api_keys = api_keys_block(self.api_keys.as_deref())?;
        let mut exec = format!("/opt/airq/bin/{}", self.role.binary());
        for arg in &self.args {
            check("the argument", arg)?;
            exec.push(' ');
            exec.push_str(&systemd_word(arg));
        }
        let script = TEMPLATE
            .replace("{{STACK}}", self.stack.as_str())
            .replace("{{ROLE}}", self.role.as_str())
            .replace("{{BINARY}}", &shell_quote(self.role.binary()))
            .replace("{{REGION}}", &shell_quote(&self.region))
            .replace("{{ARTIFACT}}", &shell_quote(&self.artifact))
            .replace("{{ARTIFACT_SHA256}}", &shell_quote(&sha))
            .replace("{{ENVIRONMENT}}", environment.trim_end())
            .replace("{{API_KEYS}}", &api_keys)
            .replace("{{EXEC_START}}", &exec)
            .replace(
                "{{STOP_TIMEOUT_SECS}}",
                &self.stop_timeout.as_secs().max(1).to_string(),
            );
        if let Some(start) = script.find("{{") {
            let end = script[start..]
                .find("}}")
                .map_or(script.len(), |e| start + e + 2);
            return Err(RenderError::Unfilled(script[start..end].to_string()));
        }
        if script.len() > MAX_USER_DATA {
            return Err(RenderError::TooLarge(script.len()));
        }
        Ok(script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(role: Role) -> Bootstrap {
        Bootstrap {
            stack: "prod".parse().expect("valid"),
            role,
            region: "eu-west-1".into(),
            artifact: "s3://airq-prod-artifacts-0a1b2c3d/artifacts/airq-0123.tar.gz".into(),
            artifact_sha256: Some("ab".repeat(32)),
            environment: vec![
                ("AIRQ_STORE".into(), "dynamodb://airq-prod-readings".into()),
                ("AIRQ_QUEUE".into(), "sqs://airq-prod-requests".into()),
            ],
            args: vec!["--concurrency".into(), "4".into()],
            api_keys: None,
            stop_timeout: Duration::from_secs(90),
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let script = sample(Role::Worker).render().expect("renders");
        assert!(!script.contains("{{"), "{script}");
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(script.contains("ROLE=worker\n"));
        assert!(script.contains("BINARY='airq-worker'\n"));
        assert!(script.contains("ExecStart=/opt/airq/bin/airq-worker --concurrency 4\n"));
        assert!(script.contains(
            "AIRQ_STORE=dynamodb://airq-prod-readings\nAIRQ_QUEUE=sqs://airq-prod-requests\nENV\n"
        ));
        assert!(script.contains("TimeoutStopSec=90\n"));
        assert!(script.contains("Restart=on-failure\n"));
        assert!(script.contains("KillSignal=SIGTERM\n"));
    }

    #[test]
    fn percent_signs_are_escaped_for_systemd() {
        let mut b = sample(Role::Master);
        b.args = vec![
            "--source".into(),
            "https://example.org/data.json?x=%20".into(),
        ];
        let script = b.render().expect("renders");
        assert!(
            script.contains("--source https://example.org/data.json?x=%%20\n"),
            "{script}"
        );
    }

    #[test]
    fn unsafe_values_are_refused() {
        for (field, value) in [
            ("arg", "x; rm -rf /"),
            ("arg", "$(id)"),
            ("arg", "a'b"),
            ("arg", "two\nlines"),
            ("arg", ""),
            ("region", "eu west"),
            ("artifact", "s3://b/k`id`"),
            ("env", "a b"),
        ] {
            let mut b = sample(Role::Worker);
            match field {
                "arg" => b.args = vec![value.into()],
                "region" => b.region = value.into(),
                "artifact" => b.artifact = value.into(),
                _ => b.environment = vec![("AIRQ_STORE".into(), value.into())],
            }
            assert!(
                matches!(b.render(), Err(RenderError::UnsafeValue { .. })),
                "{field}={value:?}"
            );
        }
        let mut b = sample(Role::Worker);
        b.environment = vec![("lower".into(), "x".into())];
        assert!(b.render().is_err());
        let mut b = sample(Role::Worker);
        b.artifact_sha256 = Some("not-hex".into());
        assert!(b.render().is_err());
    }

    #[test]
    fn the_keys_file_is_written_whole_and_private() {
        let mut b = sample(Role::Gateway);
        let line = format!("alice sha256:{}", "0f".repeat(32));
        b.api_keys = Some(format!("{line}\nbob sha256:{}\n", "a1".repeat(32)));
        let script = b.render().expect("renders");
        assert!(
            script.contains(&format!(
                "  umask 027\n  cat > /etc/airq/api-keys.new <<'KEYS'\n{line}\nbob sha256:"
            )),
            "{script}"
        );
        assert!(script.contains(
            "KEYS\n)\nchown root:airq /etc/airq/api-keys.new\nmv -f /etc/airq/api-keys.new /etc/airq/api-keys\n"
        ));
        let none = sample(Role::Worker).render().expect("renders");
        assert!(!none.contains("api-keys"), "{none}");
        for bad in [
            "KEYS",
            "alice sha256:00\nKEYS",
            "alice sha256:00 extra",
            "al$ice sha256:00",
            "alice md5:00",
            "alice  sha256:00",
            "",
        ] {
            b.api_keys = Some(bad.to_string());
            assert!(
                matches!(b.render(), Err(RenderError::UnsafeValue { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
