//! Unit tests of the DynamoDB store's pure parts: keys, batching, backoff, item conversion.
use super::item::reading;
use super::*;
use crate::testing::fixtures::readings;

#[test]
fn sort_keys_order_like_timestamp_then_sensor() {
    let mut keys = vec![
        sort_key(10, 2),
        sort_key(9, 100),
        sort_key(10, 1),
        sort_key(1_555_424_572, 0),
    ];
    keys.sort();
    assert_eq!(
        keys,
        vec![
            sort_key(9, 100),
            sort_key(10, 1),
            sort_key(10, 2),
            sort_key(1_555_424_572, 0)
        ]
    );
    assert!(sort_key(99_999_999_999, u64::MAX) > sort_key(99_999_999_999, 0));
}

#[test]
fn batches_hold_25_distinct_keys_and_the_last_write_wins() {
    let mut data = readings(60, 1);
    let mut dup = data[3].clone();
    dup.pm25 = Some(123.0);
    data.push(dup);
    let batches = write_batches(&data);
    assert!(batches.iter().all(|b| b.len() <= BATCH_LIMIT));
    for b in &batches {
        let mut keys: Vec<_> = b.iter().map(|r| (r.timestamp, r.sensor_id)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), b.len(), "a key twice in one batch");
    }
    let kept: Vec<&Reading> = batches.into_iter().flatten().collect();
    let distinct: std::collections::HashSet<_> =
        data.iter().map(|r| (r.timestamp, r.sensor_id)).collect();
    assert_eq!(kept.len(), distinct.len());
    let winner = kept
        .iter()
        .find(|r| (r.timestamp, r.sensor_id) == (data[3].timestamp, data[3].sensor_id))
        .expect("kept");
    assert_eq!(winner.pm25, Some(123.0));
}

#[test]
fn backoff_grows_and_is_capped() {
    let mut rng = rand::thread_rng();
    for attempt in 0..30 {
        let d = backoff(attempt, &mut rng);
        assert!(d <= BACKOFF_CAP);
        assert!(d <= BACKOFF_BASE.saturating_mul(1 << attempt.min(16)));
    }
}

#[test]
fn items_round_trip() {
    for r in readings(40, 2) {
        assert_eq!(reading(&item(&r)).expect("item"), r);
    }
}
