//! Answers: what a client asks (the [`Question`] and its [`Format`]) and the one function that turns a query's
//! pages into the answer's bytes, [`answer`]. The gateway's direct path and the worker's queued path both call
//! it, so the two paths answer byte for byte alike in every format.
//!
//! - **Readings** (`/api/query`): the matching readings, in time order.
//! - **Latest** (`/api/latest`): each sensor's newest reading in the window (by default the last hour of data),
//!   by sensor id — what a map shows now.
//! - **Aggregate** (`/api/aggregate`): count, mean, min and max of PM2.5 and PM10 per group and interval.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

pub mod aggregate;
pub mod cache;
pub mod encode;
pub mod rows;

pub use aggregate::{Every, GroupBy};
pub use encode::{Cell, Columns, Encoder, Format};

use crate::query::{Parsed, Query, QueryError};
use crate::reading::Reading;
use crate::store::{PageStream, ReadingStore, StoreError};

/// The question asked of the query's readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Question {
    #[default]
    Readings,
    Latest,
    Aggregate {
        by: GroupBy,
        every: Every,
    },
}

/// A question and the format of its answer: with the [`Query`], everything a job carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    #[serde(default)]
    pub question: Question,
    #[serde(default, skip_serializing_if = "Format::is_default")]
    pub format: Format,
}

/// The parameters each question takes besides the query's (see [`Query::parse_params`]).
pub const READINGS_EXTRAS: &[&str] = &["format"];
pub const AGGREGATE_EXTRAS: &[&str] = &["format", "by", "every"];

impl Ask {
    /// The ask of a parsed request: `format=` first, else the `Accept` header, else CSV; `by` and `every` for an
    /// aggregate (defaults: by sensor, every hour). Errors name the parameter.
    pub fn from_parsed(
        question: Question,
        parsed: &Parsed,
        accept: Option<&str>,
    ) -> Result<Ask, QueryError> {
        let format = match parsed.extra("format") {
            Some(text) => Format::parse(text).ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                QueryError {
                    field: "format".into(),
                    message: format!(
                        "unknown format {text:?}; expected one of {}",
                        names.join(", ")
                    ),
                }
            })?,
            None => accept.and_then(Format::from_accept).unwrap_or_default(),
        };
        let question = match question {
            Question::Aggregate { by, every } => Question::Aggregate {
                by: match parsed.extra("by") {
                    None => by,
                    Some(t) => GroupBy::parse(t).ok_or_else(|| QueryError {
                        field: "by".into(),
                        message: format!(
                            "unknown grouping {t:?}; expected sensor, location or country"
                        ),
                    })?,
                },
                every: match parsed.extra("every") {
                    None => every,
                    Some(t) => Every::parse(t).ok_or_else(|| QueryError {
                        field: "every".into(),
                        message: format!("unknown interval {t:?}; expected 1h or 1d"),
                    })?,
                },
            },
            other => other,
        };
        let ask = Ask { question, format };
        ask.check()?;
        Ok(ask)
    }

    /// The legacy CSV has the shape of a reading: an aggregate cannot take it.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.format == Format::LegacyCsv && matches!(self.question, Question::Aggregate { .. }) {
            return Err(QueryError {
                field: "format".into(),
                message: "legacy-csv holds readings; an aggregate is csv, json, ndjson or geojson"
                    .into(),
            });
        }
        Ok(())
    }

    pub fn columns(&self) -> Columns {
        match (self.question, self.format) {
            (Question::Aggregate { by, .. }, _) => by.columns(),
            (_, Format::LegacyCsv) => rows::LEGACY_COLUMNS,
            _ => rows::READING_COLUMNS,
        }
    }
}

/// A chunk of an answer's bytes.
pub type Chunk = Result<Bytes, StoreError>;

/// The answer to `ask` over `query`'s readings from `store`, as chunks of bytes. The first chunk holds the
/// answer's start and the first page's rows, so a caller that reads it before committing to a status (the
/// direct path) knows the store answered. Pages are pulled as the consumer pulls chunks.
pub fn answer(
    store: &Arc<dyn ReadingStore>,
    query: &Query,
    ask: Ask,
    page_size: usize,
) -> BoxStream<'static, Chunk> {
    if ask.question == Question::Readings {
        let encoder = Encoder::new(ask.format, ask.columns());
        if let Some(rows) = store.encoded_rows(query, encoder, page_size) {
            return encoded_answer(rows, ask);
        }
    }
    answer_pages(store.query(query, page_size), query, ask)
}

/// A readings answer from rows the store encoded itself: the answer's start before the first page's rows (in
/// one chunk, so the first chunk still proves the store answered), its end after the last.
fn encoded_answer(rows: crate::store::EncodedStream, ask: Ask) -> BoxStream<'static, Chunk> {
    // The start and end do not depend on the rows (the row encoder is the store's own).
    let mut bounds = Encoder::new(ask.format, ask.columns());
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    bounds.begin(&mut head);
    bounds.end(&mut tail);
    let state = (rows, Some(head), Some(tail));
    Box::pin(futures::stream::try_unfold(
        state,
        |(mut rows, mut head, mut tail)| async move {
            match rows.next().await {
                Some(page) => {
                    let page = page?.bytes;
                    let chunk = match head.take() {
                        Some(mut head) => {
                            head.extend_from_slice(&page);
                            Bytes::from(head)
                        }
                        None => page,
                    };
                    Ok(Some((chunk, (rows, head, tail))))
                }
                None => {
                    let mut last = head.take().unwrap_or_default();
                    match tail.take() {
                        Some(t) => last.extend_from_slice(&t),
                        None => return Ok(None),
                    }
                    if last.is_empty() {
                        // A CSV has no end: no empty chunk, so a one-page answer is one chunk (sent as it is).
                        return Ok(None);
                    }
                    Ok(Some((Bytes::from(last), (rows, head, tail))))
                }
            }
        },
    ))
}

/// [`answer`] over pages from anywhere (the conformance suite feeds it the reference answer).
pub fn answer_pages(pages: PageStream, query: &Query, ask: Ask) -> BoxStream<'static, Chunk> {
    let state = State {
        pages,
        encoder: Encoder::new(ask.format, ask.columns()),
        ask,
        index: query.index,
        latest: HashMap::new(),
        aggregator: match ask.question {
            Question::Aggregate { by, every } => {
                Some(aggregate::Aggregator::new(by, every, query.index))
            }
            _ => None,
        },
        begun: false,
        ended: false,
    };
    Box::pin(futures::stream::try_unfold(state, State::next_chunk))
}

struct State {
    pages: PageStream,
    encoder: Encoder,
    ask: Ask,
    index: crate::index::IndexKind,
    latest: HashMap<u64, Reading>,
    aggregator: Option<aggregate::Aggregator>,
    begun: bool,
    ended: bool,
}

impl State {
    fn write_reading(&mut self, out: &mut Vec<u8>, r: &Reading) {
        rows::write_reading(&mut self.encoder, out, &r.into(), self.index);
    }

    async fn next_chunk(mut self) -> Result<Option<(Bytes, State)>, StoreError> {
        if self.ended {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(64 << 10);
        if !self.begun {
            self.begun = true;
            self.encoder.begin(&mut out);
        }
        // Read until there is something to send (a latest answer sends nothing until the window is read).
        loop {
            match self.pages.next().await {
                Some(page) => {
                    let page = page?;
                    match self.ask.question {
                        Question::Readings => {
                            for r in &page.readings {
                                self.write_reading(&mut out, r);
                            }
                        }
                        Question::Latest => {
                            for r in page.readings {
                                // Pages are in time order: a later reading of a sensor is newer.
                                self.latest.insert(r.sensor_id, r);
                            }
                        }
                        Question::Aggregate { .. } => {
                            if let Some(agg) = &mut self.aggregator {
                                let encoder = &mut self.encoder;
                                let mut emit = |cells: &[Cell<'_>]| encoder.row(&mut out, cells);
                                for r in &page.readings {
                                    agg.add(r, &mut emit);
                                }
                            }
                        }
                    }
                    if !out.is_empty() {
                        return Ok(Some((Bytes::from(out), self)));
                    }
                }
                None => {
                    self.ended = true;
                    let mut latest: Vec<Reading> =
                        std::mem::take(&mut self.latest).into_values().collect();
                    latest.sort_unstable_by_key(|r| r.sensor_id);
                    for r in &latest {
                        self.write_reading(&mut out, r);
                    }
                    if let Some(agg) = &mut self.aggregator {
                        let encoder = &mut self.encoder;
                        let mut emit = |cells: &[Cell<'_>]| encoder.row(&mut out, cells);
                        agg.flush(&mut emit);
                    }
                    self.encoder.end(&mut out);
                    return Ok(Some((Bytes::from(out), self)));
                }
            }
        }
    }
}
