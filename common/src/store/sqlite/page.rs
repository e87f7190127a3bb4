//! One page of an access path, read on the calling (blocking) thread: the keyset-paged statement, the one
//! mapping of its columns to a reading's fields ([`row_ref`], cells borrowed from the row), and the two things a
//! page becomes — readings ([`read_page`]) or an encoded answer's bytes (`encode::encode_page`).

use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Row};

use super::select::{page_sql, Access};
use crate::answer::rows::RowRef;
use crate::index::Band;
use crate::query::Query;
use crate::reading::Reading;
use crate::sqlite_pool::SqlitePool;
use crate::store::StoreError;

/// A row's cells, read with one `get_ref` each and matched here (`Row::get`'s conversions cost as much again).
fn row_ref<'r>(row: &'r Row<'_>) -> Result<RowRef<'r>, StoreError> {
    let wrong = |i: usize, v: ValueRef<'_>| {
        StoreError::from(rusqlite::Error::FromSqlConversionFailure(
            i,
            v.data_type(),
            "unexpected column type".into(),
        ))
    };
    let int = |i: usize| -> Result<Option<i64>, StoreError> {
        match row.get_ref(i)? {
            ValueRef::Integer(v) => Ok(Some(v)),
            ValueRef::Null => Ok(None),
            v => Err(wrong(i, v)),
        }
    };
    let real = |i: usize| -> Result<Option<f64>, StoreError> {
        match row.get_ref(i)? {
            ValueRef::Real(v) => Ok(Some(v)),
            ValueRef::Integer(v) => Ok(Some(v as f64)),
            ValueRef::Null => Ok(None),
            v => Err(wrong(i, v)),
        }
    };
    let text = |i: usize| -> Result<&'r str, StoreError> {
        match row.get_ref(i)? {
            ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| {
                StoreError::from(rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                ))
            }),
            v => Err(wrong(i, v)),
        }
    };
    let required =
        |i: usize| -> Result<i64, StoreError> { int(i)?.ok_or_else(|| wrong(i, ValueRef::Null)) };
    let unsigned = |v: Option<i64>| v.map(|v| v as u64);
    Ok(RowRef {
        id: unsigned(int(0)?),
        sensor_id: required(1)? as u64,
        sensor_type: text(2)?,
        location_id: unsigned(int(3)?),
        latitude: real(4)?,
        longitude: real(5)?,
        altitude: real(6)?,
        country: text(7)?,
        indoor: int(8)?.map(|v| v != 0),
        timestamp: required(9)?,
        pm10: real(10)?,
        pm25: real(11)?,
        aqi: {
            let v = required(12)?;
            u8::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(12, v))?
        },
        band: text(13)?,
    })
}

/// Walks one page of `access` with a connection taken from the pool and returned as soon as the page is read,
/// handing every row to `each`. Returns the rows read and the next page's cursor (the last row's
/// `(timestamp, sensor_id)`; `None` when this page was the last).
pub(super) fn walk_page(
    pool: &SqlitePool,
    query: &Query,
    access: &Access,
    after: Option<(i64, i64)>,
    page_size: usize,
    mut each: impl FnMut(RowRef<'_>) -> Result<(), StoreError>,
) -> Result<(usize, Option<(i64, i64)>), StoreError> {
    let conn = pool.get()?;
    let (sql, values) = page_sql(query, access, after, page_size);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let (mut read, mut last) = (0usize, None);
    while let Some(row) = rows.next()? {
        let r = row_ref(row)?;
        read += 1;
        last = Some((r.timestamp, i64::try_from(r.sensor_id).unwrap_or(i64::MAX)));
        each(r)?;
    }
    let next = if read == page_size { last } else { None };
    Ok((read, next))
}

/// One page read: the matching readings, the rows read, and the next page's cursor.
pub(super) type ReadPage = (Vec<Reading>, u64, Option<(i64, i64)>);

/// Reads one page as readings: rows the native conditions let through but [`Query::matches`] refuses (a
/// radius's corners, another index's band) are read past, not returned.
pub(super) fn read_page(
    pool: &SqlitePool,
    query: &Query,
    access: &Access,
    after: Option<(i64, i64)>,
    page_size: usize,
) -> Result<ReadPage, StoreError> {
    let mut page = Vec::with_capacity(page_size.min(4096));
    let (read, next) = walk_page(pool, query, access, after, page_size, |r| {
        let reading = reading_of(&r)?;
        if query.matches(&reading) {
            page.push(reading);
        }
        Ok(())
    })?;
    Ok((page, read as u64, next))
}

/// The owned reading of a row; a band name this build does not know is damage, not a reading.
fn reading_of(r: &RowRef<'_>) -> Result<Reading, StoreError> {
    let band = r
        .band
        .parse::<Band>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Reading {
        id: r.id,
        sensor_id: r.sensor_id,
        sensor_type: r.sensor_type.to_string(),
        location_id: r.location_id,
        latitude: r.latitude,
        longitude: r.longitude,
        altitude: r.altitude,
        country: r.country.to_string(),
        indoor: r.indoor,
        timestamp: r.timestamp,
        pm10: r.pm10,
        pm25: r.pm25,
        aqi: r.aqi,
        band,
    })
}
