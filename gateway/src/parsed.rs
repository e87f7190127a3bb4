//! Legacy bodies parsed before: a bounded memo from a `POST /api/query` body (with its `Accept`) to the query and
//! ask it parsed to.
//!
//! Why: parsing is a pure function of those bytes (a body names its window; nothing in it depends on the clock
//! or the store), and clients repeat their questions (a dashboard polling its country's hour, the legacy page's
//! users asking the same thing). Reading the JSON into fields, then checking and normalising them, was ~7% of a
//! cached answer's CPU; a lookup here costs a hash of the body. Only successful parses are kept: a refusal is
//! cheap to repeat, and must name its field every time anyway.

use airq_common::answer::Ask;
use airq_common::Query;

/// Bodies kept at most (a few MiB at most: none longer than [`LONGEST_KEY`] is kept).
const ENTRIES: usize = 4096;

/// A body and `Accept` longer than this together are parsed every time (a legacy body is ~120 bytes, an
/// `Accept` a few dozen), so that the memo's size is bounded by what it keeps, not by what clients send: a
/// 32 KiB `Accept` is a valid header.
pub const LONGEST_KEY: usize = 1024;

pub struct ParsedBodies {
    entries: quick_cache::sync::Cache<Vec<u8>, (Query, Ask)>,
}

impl Default for ParsedBodies {
    fn default() -> Self {
        ParsedBodies {
            entries: quick_cache::sync::Cache::new(ENTRIES),
        }
    }
}

impl ParsedBodies {
    /// What `body` asks (with `accept`): as parsed before, or as `parse` parses it now.
    pub fn get_or_parse<E>(
        &self,
        body: &[u8],
        accept: Option<&str>,
        parse: impl FnOnce() -> Result<(Query, Ask), E>,
    ) -> Result<(Query, Ask), E> {
        let accept = accept.unwrap_or("").as_bytes();
        if body.len() + accept.len() > LONGEST_KEY {
            return parse();
        }
        // The Accept value's length first, so that no Accept/body split of the same bytes can collide.
        let mut key = Vec::with_capacity(8 + accept.len() + body.len());
        key.extend_from_slice(&(accept.len() as u64).to_le_bytes());
        key.extend_from_slice(accept);
        key.extend_from_slice(body);
        if let Some(known) = self.entries.get(&key) {
            return Ok(known);
        }
        let parsed = parse()?;
        self.entries.insert(key, parsed.clone());
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use airq_common::answer::{Format, Question};

    use super::*;

    fn ask(format: Format) -> Ask {
        Ask {
            question: Question::Readings,
            format,
        }
    }

    #[test]
    fn a_body_is_parsed_once_per_accept_and_refusals_and_long_keys_are_not_kept() {
        let memo = ParsedBodies::default();
        let calls = Cell::new(0);
        let parse = |format: Format| {
            calls.set(calls.get() + 1);
            Ok::<_, ()>((Query::window(0, 10).expect("valid"), ask(format)))
        };
        let body = br#"{"startDate": "x"}"#;
        for _ in 0..3 {
            let (_, got) = memo
                .get_or_parse(body, None, || parse(Format::Csv))
                .expect("parsed");
            assert_eq!(got.format, Format::Csv);
        }
        assert_eq!(calls.get(), 1);
        let (_, got) = memo
            .get_or_parse(body, Some("application/json"), || parse(Format::Json))
            .expect("parsed");
        assert_eq!((got.format, calls.get()), (Format::Json, 2));

        let refused = || {
            calls.set(calls.get() + 1);
            Err(())
        };
        for _ in 0..2 {
            assert!(memo.get_or_parse(b"{", None, refused).is_err());
        }
        assert_eq!(calls.get(), 4);

        let long = vec![b' '; LONGEST_KEY + 1];
        for _ in 0..2 {
            memo.get_or_parse(&long, None, || parse(Format::Csv))
                .expect("parsed");
        }
        assert_eq!(calls.get(), 6);
        // A long Accept counts too: the memo never keeps a key over the bound.
        let accept = "text/csv;".repeat(LONGEST_KEY / 8);
        for _ in 0..2 {
            memo.get_or_parse(body, Some(&accept), || parse(Format::Csv))
                .expect("parsed");
        }
        assert_eq!(calls.get(), 8);
    }
}
