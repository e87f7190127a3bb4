//! What an ingest run did, for people (the summary block) and machines (`--json`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use airq_common::reading::{ParseStats, SkipReason};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Damage {
    /// The file or URL that was damaged.
    pub source: String,
    pub offset: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub source: String,
    pub store: String,
    pub records_seen: u64,
    pub readings_written: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    pub skipped_total: u64,
    pub dropped_values: BTreeMap<SkipReason, u64>,
    /// Damage that ended a file or feed early (its readings before the damage were written).
    pub damage: Vec<Damage>,
    /// The URL answered 304: nothing changed since the previous run.
    pub not_modified: bool,
    /// Stopped by Ctrl-C/SIGTERM after finishing the batch in hand.
    pub interrupted: bool,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl IngestSummary {
    pub fn add_stats(&mut self, stats: &ParseStats) {
        self.records_seen += stats.records_seen;
        for (reason, n) in &stats.skipped {
            *self.skipped.entry(*reason).or_default() += n;
        }
        for (reason, n) in &stats.dropped_values {
            *self.dropped_values.entry(*reason).or_default() += n;
        }
        self.skipped_total = self.skipped.values().sum();
    }

    /// A run that met damage, or was interrupted, did not do all it was asked: the exit status says so.
    pub fn is_complete(&self) -> bool {
        self.damage.is_empty() && !self.interrupted
    }

    fn rate(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ingest of {} into {}", self.source, self.store)?;
        if self.not_modified {
            writeln!(
                f,
                "  not modified since the previous run (HTTP 304): nothing to do"
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
        for d in &self.damage {
            match d.offset {
                Some(offset) => {
                    writeln!(f, "  DAMAGED: {} at byte {offset}: {}", d.source, d.message)?
                }
                None => writeln!(f, "  DAMAGED: {}: {}", d.source, d.message)?,
            }
        }
        if self.interrupted {
            writeln!(f, "  INTERRUPTED: stopped after the batch in hand")?;
        }
        writeln!(
            f,
            "  elapsed:           {:.3} s  ({:.0} records/s, {:.0} readings/s)",
            self.elapsed.as_secs_f64(),
            self.rate(self.records_seen),
            self.rate(self.readings_written)
        )
    }
}
