//! Encoding a readings answer straight from SQLite rows (issue 13): each row's cells are borrowed from the row
//! itself (`RowRef`) and written by the answer's encoder into the page's buffer, so no `Reading` is built and
//! nothing is allocated per row. Used when the SQL conditions are exactly the query (a window or country path,
//! the stored DAQI, no radius), so the rows need no second test; other queries go through `Reading`s.

use super::page::walk_page;
use super::readers::Readers;
use super::select::{keyed_paths, window_path, Access};
use crate::answer::rows::write_reading;
use crate::answer::Encoder;
use crate::index::IndexKind;
use crate::query::Query;
use crate::sqlite_pool::SqlitePool;
use crate::store::{EncodedPage, EncodedStream, StoreError};

/// Whether `query`'s SQL conditions on the window or country path are exactly [`Query::matches`].
pub fn exact_in_sql(query: &Query) -> bool {
    keyed_paths(query).is_none() && query.place.is_none() && query.index == IndexKind::Daqi
}

/// A page's bytes, the rows read, and the next page's cursor (`None` after the last page).
type PageRead = (Vec<u8>, usize, Option<(i64, i64)>);

/// Reads and encodes one page.
fn encode_page(
    pool: &SqlitePool,
    query: &Query,
    access: &Access,
    after: Option<(i64, i64)>,
    page_size: usize,
    encoder: &mut Encoder,
    capacity: usize,
) -> Result<PageRead, StoreError> {
    let mut out = Vec::with_capacity(capacity);
    let (read, next) = walk_page(pool, query, access, after, page_size, |r| {
        write_reading(encoder, &mut out, &r, IndexKind::Daqi);
        Ok(())
    })?;
    Ok((out, read, next))
}

struct Pages {
    pool: SqlitePool,
    readers: Readers,
    query: Query,
    access: Access,
    page_size: usize,
    after: Option<(i64, i64)>,
    done: bool,
    encoder: Option<Encoder>,
    /// The last page's size: the next page's buffer is allocated once at about the right size.
    capacity: usize,
}

impl Pages {
    async fn next(mut self) -> Result<Option<(EncodedPage, Pages)>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let (pool, query, access) = (self.pool.clone(), self.query.clone(), self.access.clone());
        let (after, page_size, capacity) = (self.after, self.page_size, self.capacity);
        let Some(mut encoder) = self.encoder.take() else {
            return Ok(None);
        };
        let (out, encoder, read, next) = self
            .readers
            .run(move || {
                let page = encode_page(
                    &pool,
                    &query,
                    &access,
                    after,
                    page_size,
                    &mut encoder,
                    capacity,
                );
                page.map(|(out, read, next)| (out, encoder, read, next))
            })
            .await?;
        self.encoder = Some(encoder);
        self.capacity = self.capacity.max(out.len() + out.len() / 8);
        match next {
            Some(cursor) => self.after = Some(cursor),
            None => self.done = true,
        }
        if read == 0 {
            return Ok(None);
        }
        let page = EncodedPage {
            bytes: out.into(),
            rows: read as u64,
        };
        Ok(Some((page, self)))
    }
}

/// The answer's rows, encoded by `encoder` (fresh: no row written yet), page by page, when the query is exact in
/// SQL; `None` otherwise.
pub fn encoded_rows(
    pool: SqlitePool,
    readers: Readers,
    query: &Query,
    encoder: Encoder,
    page_size: usize,
) -> Option<EncodedStream> {
    if !exact_in_sql(query) {
        return None;
    }
    let pages = Pages {
        pool,
        readers,
        access: window_path(query),
        query: query.clone(),
        page_size: page_size.max(1),
        after: None,
        done: false,
        encoder: Some(encoder),
        // A typical first page (a few hundred rows of ~90 bytes) without growing the buffer.
        capacity: 32 << 10,
    };
    Some(Box::pin(futures::stream::try_unfold(pages, Pages::next)))
}
