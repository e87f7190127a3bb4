//! Every airq command the README shows is one its binary accepts: each command line in README.md's code blocks
//! that starts with `airq-master`, `airq-worker`, `airq-gateway`, `airq-loadtest` or `airq-deploy` is parsed
//! by that binary's own clap type, so a renamed or removed flag, or a placeholder left in an example, fails
//! here. Here because deploy's tests may depend on every other crate (none depends on deploy); the check
//! parses only, it runs nothing.

use clap::Parser;

const README: &str = include_str!("../../../README.md");

/// The binaries whose commands are checked.
const BINARIES: &[&str] = &[
    "airq-master",
    "airq-worker",
    "airq-gateway",
    "airq-loadtest",
    "airq-deploy",
];

/// The lines inside the README's fenced code blocks, with `\`-continued lines joined.
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    lines
}

/// Splits a shell command line into words as a POSIX shell would for these examples: single and double quotes,
/// a `#` comment, and the command's end at an unquoted redirection, pipe, `;` or `&`.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed ' in {line:?}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed \" in {line:?}")),
                    }
                }
            }
            '#' if word.is_none() => break,
            '>' | '<' | '|' | ';' | '&' => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The README's command lines of airq's binaries, as words.
fn commands() -> Vec<Vec<String>> {
    code_lines(README)
        .iter()
        .filter(|line| {
            BINARIES
                .iter()
                .any(|b| line.trim_start().starts_with(&format!("{b} ")))
        })
        .map(|line| words(line).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Parses one command with its binary's clap type.
fn parse(words: &[String]) -> Result<(), String> {
    let show = |e: clap::Error| e.to_string();
    match words[0].as_str() {
        "airq-master" => airq_master::config::Cli::try_parse_from(words)
            .map(drop)
            .map_err(show),
        "airq-worker" => airq_worker::WorkerConfig::try_parse_from(words)
            .map(drop)
            .map_err(show),
        "airq-gateway" => airq_gateway::config::GatewayConfig::try_parse_from(words)
            .map(drop)
            .map_err(show),
        "airq-loadtest" => airq_loadtest::config::Cli::try_parse_from(words)
            .map(drop)
            .map_err(show),
        "airq-deploy" => airq_deploy::cli::Cli::try_parse_from(words)
            .map(drop)
            .map_err(show),
        other => Err(format!("{other} is not an airq binary")),
    }
}

#[test]
fn every_readme_command_parses() {
    let commands = commands();
    // The README shows every role: a parser that found nothing would pass vacuously.
    for binary in ["airq-master", "airq-worker", "airq-gateway", "airq-deploy"] {
        assert!(
            commands.iter().any(|c| c[0] == binary),
            "no {binary} command found in README.md"
        );
    }
    let failures: Vec<String> = commands
        .iter()
        .filter_map(|c| parse(c).err().map(|e| format!("{}\n{e}", c.join(" "))))
        .collect();
    assert!(
        failures.is_empty(),
        "README.md shows commands their binaries refuse:\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn the_splitter_reads_the_readme_forms() {
    assert_eq!(
        words("airq-gateway new-api-key alice >> api-keys   # prints the key").expect("words"),
        ["airq-gateway", "new-api-key", "alice"]
    );
    assert_eq!(
        words(r#"airq-loadtest URL --fail-if 'p99>250ms,errors>0' --span "a b""#).expect("words"),
        [
            "airq-loadtest",
            "URL",
            "--fail-if",
            "p99>250ms,errors>0",
            "--span",
            "a b"
        ]
    );
    assert_eq!(
        code_lines("```sh\nairq-deploy plan \\\n    --x 1   # c\n```\n"),
        ["airq-deploy plan      --x 1   # c"]
    );
    // A placeholder is caught: this is what the README showed for `up` before.
    let placeholder = words("airq-deploy --stack prod up   ...same options...").expect("words");
    assert!(parse(&placeholder).is_err());
}
