//! What an ingest run did, for people (one block on stdout) and machines (`--json`: one JSON object).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use airq_common::archive::{ArchiveDamage, ArchiveDamageKind, ArchiveError};
use airq_common::feed::{DamageKind, FeedDamage};
use airq_common::reading::{ParseStats, SkipReason};
use serde::Serialize;

/// Damage that ended a file or feed early. The readings before it were written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Damage {
    /// The file or URL that was damaged.
    pub source: String,
    /// Byte offset where the damage begins, when the reader knows it.
    pub offset: Option<u64>,
    /// A stable short name: `truncated`, `trailing_garbage`, `unexpected_byte`, `not_an_array`, `empty`,
    /// `record_too_large`, `line_too_long`, `read_error`, `bad_header`, `unreadable`.
    pub kind: &'static str,
    pub message: String,
}

impl Damage {
    /// Where: the source, and the byte offset when known.
    fn at(&self) -> String {
        match self.offset {
            Some(offset) => format!("{} at byte {offset}", self.source),
            None => self.source.clone(),
        }
    }

    pub fn from_feed(source: &str, damage: &FeedDamage) -> Damage {
        let kind = match damage.kind {
            DamageKind::Empty => "empty",
            DamageKind::NotAnArray => "not_an_array",
            DamageKind::Truncated => "truncated",
            DamageKind::Unexpected(_) => "unexpected_byte",
            DamageKind::TrailingGarbage => "trailing_garbage",
            DamageKind::RecordTooLarge => "record_too_large",
            DamageKind::Io(_) => "read_error",
        };
        Damage {
            source: source.to_string(),
            offset: Some(damage.offset),
            kind,
            message: damage.kind.to_string(),
        }
    }

    pub fn from_archive(source: &str, damage: &ArchiveDamage) -> Damage {
        let kind = match damage.kind {
            ArchiveDamageKind::LineTooLong => "line_too_long",
            ArchiveDamageKind::Truncated => "truncated",
            ArchiveDamageKind::Io(_) => "read_error",
        };
        Damage {
            source: source.to_string(),
            offset: Some(damage.offset),
            kind,
            message: damage.kind.to_string(),
        }
    }

    /// An archive that could not be read at all: its header is missing, lacks a needed column, or is damaged.
    pub fn from_archive_error(source: &str, error: &ArchiveError) -> Damage {
        match error {
            ArchiveError::Damaged(damage) => Damage::from_archive(source, damage),
            ArchiveError::Empty => Damage {
                source: source.to_string(),
                offset: Some(0),
                kind: "empty",
                message: error.to_string(),
            },
            ArchiveError::MissingColumn(_) => Damage {
                source: source.to_string(),
                offset: Some(0),
                kind: "bad_header",
                message: error.to_string(),
            },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub source: String,
    pub store: String,
    pub records_seen: u64,
    /// Readings the parser produced. Equal to `readings_written` unless the run was interrupted (the readings
    /// parsed ahead of the writer are then reported, not silently lost) or the store failed.
    pub readings_parsed: u64,
    pub readings_written: u64,
    pub skipped_total: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Values dropped from records that were kept (the other PM value was usable).
    pub dropped_values: BTreeMap<SkipReason, u64>,
    /// Damage that ended a file or feed early (its readings before the damage were written).
    pub damage: Vec<Damage>,
    /// The URL answered 304: nothing changed since the previous run, nothing was read.
    pub not_modified: bool,
    /// Stopped by Ctrl-C/SIGTERM after finishing the batch in hand.
    pub interrupted: bool,
    #[serde(rename = "elapsed_secs", serialize_with = "secs")]
    pub elapsed: Duration,
    pub records_per_sec: f64,
    pub readings_per_sec: f64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl IngestSummary {
    pub fn add_stats(&mut self, stats: &ParseStats) {
        self.records_seen += stats.records_seen;
        self.readings_parsed += stats.readings;
        for (reason, n) in &stats.skipped {
            *self.skipped.entry(*reason).or_default() += n;
        }
        for (reason, n) in &stats.dropped_values {
            *self.dropped_values.entry(*reason).or_default() += n;
        }
        self.skipped_total = self.skipped.values().sum();
    }

    /// Records the run's duration and the rates derived from it.
    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.records_per_sec = self.records_seen as f64 / secs;
        self.readings_per_sec = self.readings_written as f64 / secs;
    }

    /// Parsed readings that were not written (an interrupted run).
    pub fn readings_not_written(&self) -> u64 {
        self.readings_parsed.saturating_sub(self.readings_written)
    }

    /// A run that met damage, or was interrupted, did not do all it was asked: the exit status says so.
    pub fn is_complete(&self) -> bool {
        self.damage.is_empty() && !self.interrupted
    }
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ingest of {} into {}", self.source, self.store)?;
        if self.not_modified {
            writeln!(
                f,
                "  not modified since the previous run (HTTP 304): skipped"
            )?;
        }
        writeln!(f, "  records seen:      {}", self.records_seen)?;
        writeln!(f, "  readings written:  {}", self.readings_written)?;
        writeln!(f, "  records skipped:   {}", self.skipped_total)?;
        for (reason, n) in &self.skipped {
            writeln!(f, "    {reason:<20} {n}")?;
        }
        if !self.dropped_values.is_empty() {
            writeln!(f, "  values dropped (record kept):")?;
            for (reason, n) in &self.dropped_values {
                writeln!(f, "    {reason:<20} {n}")?;
            }
        }
        for group in damage_by_kind(&self.damage) {
            if group.len() <= LISTED {
                for d in group {
                    writeln!(f, "  DAMAGED ({}): {}: {}", d.kind, d.at(), d.message)?;
                }
            } else {
                summarise(f, &group)?;
            }
        }
        if self.interrupted {
            writeln!(
                f,
                "  INTERRUPTED: stopped after the batch in hand; {} parsed readings not written \
                 (run again to write them: ingest is idempotent)",
                self.readings_not_written()
            )?;
        }
        writeln!(
            f,
            "  elapsed:           {:.3} s  ({:.0} records/s, {:.0} readings/s)",
            self.elapsed.as_secs_f64(),
            self.records_per_sec,
            self.readings_per_sec
        )
    }
}

/// Damage of one kind is listed file by file up to this many files; more are one line with a count and the
/// first few. A wrong `--format` on a folder damages every file the same way, and 162 identical lines would
/// hide everything else the summary says. `--json` always lists every one.
const LISTED: usize = 3;

/// The damage grouped by kind, in the order each kind first appears.
fn damage_by_kind(damage: &[Damage]) -> Vec<Vec<&Damage>> {
    let mut groups: Vec<Vec<&Damage>> = Vec::new();
    for d in damage {
        match groups.iter_mut().find(|g| g[0].kind == d.kind) {
            Some(group) => group.push(d),
            None => groups.push(vec![d]),
        }
    }
    groups
}

/// One line for many files damaged the same way: the count, the message (the first file's, when they differ),
/// and the first [`LISTED`] files.
fn summarise(f: &mut fmt::Formatter<'_>, group: &[&Damage]) -> fmt::Result {
    let first = group[0];
    let same = group.iter().all(|d| d.message == first.message);
    let first_few: Vec<String> = group.iter().take(LISTED).map(|d| d.at()).collect();
    writeln!(
        f,
        "  DAMAGED ({}) in {} files: {}{} (first: {}; {} more; --json lists every one)",
        first.kind,
        group.len(),
        first.message,
        if same { "" } else { ", and other messages" },
        first_few.join(", "),
        group.len() - first_few.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damage(kind: &'static str, source: &str, message: &str) -> Damage {
        Damage {
            source: source.to_string(),
            offset: Some(0),
            kind,
            message: message.to_string(),
        }
    }

    /// 162 files damaged the same way are one line; a kind seen in a few files keeps a line per file; the JSON
    /// summary keeps every one.
    #[test]
    fn repeated_damage_is_one_line_and_the_json_keeps_all() {
        let mut summary = IngestSummary::default();
        for n in 0..162 {
            summary.damage.push(damage(
                "not_an_array",
                &format!("archive/f{n}.csv"),
                "expected a JSON array",
            ));
        }
        summary
            .damage
            .push(damage("truncated", "archive/cut.csv", "cut off"));
        let text = summary.to_string();
        let damaged: Vec<&str> = text.lines().filter(|l| l.contains("DAMAGED")).collect();
        assert_eq!(
            damaged,
            [
                "  DAMAGED (not_an_array) in 162 files: expected a JSON array (first: archive/f0.csv at byte 0, \
                 archive/f1.csv at byte 0, archive/f2.csv at byte 0; 159 more; --json lists every one)",
                "  DAMAGED (truncated): archive/cut.csv at byte 0: cut off",
            ]
        );
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["damage"].as_array().map(Vec::len), Some(163));
    }

    #[test]
    fn a_few_files_keep_a_line_each_and_differing_messages_are_said() {
        let mut summary = IngestSummary {
            damage: (0..LISTED)
                .map(|n| damage("truncated", &format!("f{n}.csv"), "cut off"))
                .collect(),
            ..Default::default()
        };
        let text = summary.to_string();
        assert_eq!(
            text.matches("DAMAGED (truncated): f").count(),
            LISTED,
            "{text}"
        );
        summary
            .damage
            .push(damage("truncated", "g.csv", "cut off elsewhere"));
        let text = summary.to_string();
        assert!(
            text.contains("DAMAGED (truncated) in 4 files: cut off, and other messages (first: "),
            "{text}"
        );
    }
}
