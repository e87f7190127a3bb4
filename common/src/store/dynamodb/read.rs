//! Reading a query's answer: the access path, and its pages.
//!
//! | query names | path | reads |
//! | --- | --- | --- |
//! | `id` | one `Query` per id on `by_id` (`id = :id`, `sk` in the window), merged | the ids' items |
//! | `sensor_id` | one `Query` per sensor on `by_sensor` (`sensor_id = :s`, `sk` in the window), merged | the sensors' items in the window |
//! | `location_id` | one `Query` per location on `by_location`, merged | the locations' items in the window |
//! | `country` | one `Query` per hour of the window on `by_country_hour` | the country's items in the window |
//! | otherwise | one `Query` per hour of the window on the table | every item in the window |
//!
//! Every path yields items in `sk` order, which is the answer order `(timestamp, sensor_id)`, so the hours are
//! visited in order and several keys' answers are merged ([`merge_ordered`]) without sorting. The DAQI range and
//! band are a filter expression (it saves the transfer, not the read: DynamoDB charges for what the key
//! condition reads); everything else (country on a keyed path, sensor type, place, another index) is decided by
//! [`Query::matches`] on every item read, which is the reference. So the cost of a keyed query is its keys'
//! items in the window; a place or sensor type alone reads the window (see `docs/architecture.md`).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, TryStreamExt};

use super::item::{num, reading};
use super::{
    country_hour, sdk_error, sort_key, DynamoStore, CH, COUNTRY_INDEX, ID, ID_INDEX, LOCATION,
    LOCATION_INDEX, PK, SENSOR, SENSOR_INDEX, SK,
};
use crate::query::Query;
use crate::store::merge::merge_ordered;
use crate::store::{Page, PageStream, StoreError};
use crate::time::{hour_bucket, EpochSeconds};

/// The last second a sort key orders correctly (11 digits): the end of any window is clamped to it, so the
/// window's upper bound is a valid key (year 5138; the query model's "all time" ends at 9999-12-31).
const MAX_KEY_SECOND: EpochSeconds = 99_999_999_999;

/// The fewest items a keyed path reads per request, however many keys share the page: a sensor's history is
/// not read a handful of items per round trip.
const MIN_PATH_PAGE: usize = 256;

/// Which partitions a cursor reads.
#[derive(Debug, Clone, PartialEq)]
enum Partitions {
    /// The window's hour partitions, in order: of the table, or of `by_country_hour` for `country`.
    Hours {
        country: Option<String>,
        /// The hour being read (its first second) and the last hour to read.
        hour: EpochSeconds,
        last_hour: EpochSeconds,
    },
    /// One partition of a key index, the window's part of it.
    Key {
        index: &'static str,
        attribute: &'static str,
        value: u64,
    },
}

/// The key partitions of a query that names ids, sensors or locations (in that order of preference, as on
/// SQLite: the most selective first), or `None` for a query read through its window (also when the table
/// lacks the index: see [`DynamoStore::ensure_table`]).
fn keyed(store: &DynamoStore, query: &Query) -> Option<Vec<Partitions>> {
    let (index, attribute, values) = if !query.ids.is_empty() {
        (ID_INDEX, ID, &query.ids)
    } else if !query.sensor_ids.is_empty() {
        (SENSOR_INDEX, SENSOR, &query.sensor_ids)
    } else if !query.location_ids.is_empty() {
        (LOCATION_INDEX, LOCATION, &query.location_ids)
    } else {
        return None;
    };
    if !store.indexed(index) {
        return None;
    }
    Some(
        values
            .iter()
            .map(|&value| Partitions::Key {
                index,
                attribute,
                value,
            })
            .collect(),
    )
}

/// Where a query stands between pages of one path.
struct Cursor {
    store: DynamoStore,
    query: Query,
    page_size: i32,
    partitions: Partitions,
    start_key: Option<HashMap<String, AttributeValue>>,
    /// Items examined by requests whose pages came back empty, carried into the next page.
    carried_scan: u64,
    done: bool,
}

/// A `Query` request for the window of `query`, with the DAQI filters pushed down when the query is on DAQI
/// (on another index the stored DAQI cannot narrow anything: `matches` decides).
fn window_request(store: &DynamoStore, query: &Query, page_size: i32) -> QueryFluentBuilder {
    let lo = sort_key(query.start, 0);
    let hi = sort_key(query.end.min(MAX_KEY_SECOND), u64::MAX);
    let request = store
        .client
        .query()
        .table_name(&*store.table)
        .limit(page_size)
        .expression_attribute_names("#s", SK)
        .expression_attribute_values(":lo", AttributeValue::S(lo))
        .expression_attribute_values(":hi", AttributeValue::S(hi));
    match query.daqi_filters() {
        None | Some((0, 10, None)) => request,
        Some((min, max, band)) => {
            let request = request
                .expression_attribute_names("#aqi", "aqi")
                .expression_attribute_values(":min", num(min))
                .expression_attribute_values(":max", num(max));
            match band {
                Some(band) => request
                    .filter_expression("#aqi BETWEEN :min AND :max AND #band = :band")
                    .expression_attribute_names("#band", "band")
                    .expression_attribute_values(":band", AttributeValue::S(band.as_str().into())),
                None => request.filter_expression("#aqi BETWEEN :min AND :max"),
            }
        }
    }
}

impl Cursor {
    fn request(&self) -> QueryFluentBuilder {
        let request = window_request(&self.store, &self.query, self.page_size)
            .key_condition_expression("#p = :p AND #s BETWEEN :lo AND :hi")
            .set_exclusive_start_key(self.start_key.clone());
        match &self.partitions {
            Partitions::Hours {
                country: Some(country),
                hour,
                ..
            } => request
                .index_name(COUNTRY_INDEX)
                .expression_attribute_names("#p", CH)
                .expression_attribute_values(
                    ":p",
                    AttributeValue::S(country_hour(country, &hour_bucket(*hour))),
                ),
            Partitions::Hours {
                country: None,
                hour,
                ..
            } => request
                .expression_attribute_names("#p", PK)
                .expression_attribute_values(":p", AttributeValue::S(hour_bucket(*hour))),
            Partitions::Key {
                index,
                attribute,
                value,
            } => request
                .index_name(*index)
                .expression_attribute_names("#p", *attribute)
                .expression_attribute_values(":p", num(value)),
        }
    }

    /// Moves to the next partition once the current one is read to its end.
    fn advance(&mut self) {
        match &mut self.partitions {
            Partitions::Hours {
                hour, last_hour, ..
            } => {
                *hour += 3600;
                self.done = *hour > *last_hour;
            }
            Partitions::Key { .. } => self.done = true,
        }
    }

    /// The next non-empty page (or the last, empty one that carries what the final requests examined), reading
    /// as many requests as it takes: a request whose items the filters all drop is followed by the next.
    async fn next_page(mut self) -> Result<Option<(Page, Cursor)>, StoreError> {
        while !self.done {
            let out = self
                .request()
                .send()
                .await
                .map_err(|e| sdk_error("Query", &self.store.table, e))?;
            self.carried_scan += u64::try_from(out.scanned_count()).unwrap_or(0);
            self.start_key = out.last_evaluated_key().cloned();
            if self.start_key.is_none() {
                self.advance();
            }
            let readings = out
                .items()
                .iter()
                .map(reading)
                .filter(|r| r.as_ref().map_or(true, |r| self.query.matches(r)))
                .collect::<Result<Vec<_>, _>>()?;
            if !readings.is_empty() || self.done {
                let scanned = std::mem::take(&mut self.carried_scan);
                if readings.is_empty() && scanned == 0 {
                    return Ok(None);
                }
                let page = Page {
                    readings,
                    scanned: Some(scanned),
                };
                return Ok(Some((page, self)));
            }
        }
        Ok(None)
    }

    fn pages(self) -> PageStream {
        Box::pin(stream::try_unfold(Some(self), |cursor| async move {
            match cursor {
                Some(c) => Ok(c.next_page().await?.map(|(page, next)| (page, Some(next)))),
                None => Ok(None),
            }
        }))
    }
}

/// The answer to `query`, in pages of at most `page_size`, by the cheapest path the table has for it.
pub(super) fn query(store: DynamoStore, query: Query, page_size: usize) -> PageStream {
    let page_size = page_size.clamp(1, i32::MAX as usize);
    if let Some(paths) = keyed(&store, &query) {
        // A page's worth per key at least, shared when many keys are asked (each input holds one page).
        let per_path = (page_size / paths.len().max(1))
            .max(MIN_PATH_PAGE)
            .min(page_size);
        let inputs = paths
            .into_iter()
            .map(|partitions| {
                Cursor {
                    store: store.clone(),
                    query: query.clone(),
                    page_size: i32::try_from(per_path).unwrap_or(i32::MAX),
                    partitions,
                    start_key: None,
                    carried_scan: 0,
                    done: false,
                }
                .pages()
            })
            .collect();
        return merge_ordered(inputs, page_size);
    }
    // The window's hours, clamped to the stored data's bounds so a window of years does not issue one request
    // per empty hour.
    let first = async move {
        let Some((lo, hi)) = store.bounds().await? else {
            return Ok::<_, StoreError>(None);
        };
        let start = query.start.max(lo).max(0);
        let end = query.end.min(hi);
        if start > end {
            return Ok(None);
        }
        Ok(Some(Cursor {
            partitions: Partitions::Hours {
                country: query.country.clone(),
                hour: start - start.rem_euclid(3600),
                last_hour: end - end.rem_euclid(3600),
            },
            store,
            query,
            page_size: i32::try_from(page_size).unwrap_or(i32::MAX),
            start_key: None,
            carried_scan: 0,
            done: false,
        }))
    };
    let pages = stream::once(first)
        .map_ok(|cursor| match cursor {
            Some(cursor) => cursor.pages(),
            None => Box::pin(stream::empty()) as PageStream,
        })
        .try_flatten();
    Box::pin(pages)
}
