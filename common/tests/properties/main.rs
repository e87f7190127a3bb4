//! Property tests (issue 10) for what hostile input reaches first: the query parser (URL parameters and the
//! JSON body), the job protocol, and the feed reader. Each property holds for arbitrary input: never a panic,
//! every error names a field, every valid value round-trips, and damage is always reported.

use airq_common::feed::FeedReader;
use airq_common::index::{Band, IndexKind};
use airq_common::protocol::{Job, Notice};
use airq_common::query::{Place, QueryFields};
use airq_common::time::format_rfc3339;
use airq_common::Query;
use proptest::prelude::*;
use uuid::Uuid;

const SAMPLE: &[u8] = include_bytes!("../../../data/feed/sensor-community-2019-04-16.json");

fn band() -> impl Strategy<Value = Option<Band>> {
    prop_oneof![
        Just(None),
        Just(Some(Band::Low)),
        Just(Some(Band::Moderate)),
        Just(Some(Band::High)),
        Just(Some(Band::VeryHigh)),
    ]
}

/// A sorted list without repeats, as the parser keeps one.
fn id_list() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::btree_set(0u64..10_000_000_000, 0..4)
        .prop_map(|s| s.into_iter().collect())
}

/// A place, or none.
fn place() -> impl Strategy<Value = Option<Place>> {
    prop_oneof![
        Just(None),
        (-180.0..180.0f64, -90.0..90.0f64, 0.0..10.0f64, 0.0..10.0f64).prop_map(
            |(lon, lat, w, h)| Some(Place::Bbox {
                min_lon: lon,
                min_lat: lat,
                max_lon: (lon + w).min(180.0),
                max_lat: (lat + h).min(90.0),
            })
        ),
        (-90.0..=90.0f64, -180.0..=180.0f64, 0.001..20_000.0f64).prop_map(
            |(lat, lon, radius_km)| Some(Place::Near {
                lat,
                lon,
                radius_km
            })
        ),
    ]
}

/// Valid query fields: a window within the years airq serves, an optional country, band and index range, and
/// the key and place filters (on the DAQI; other indices' ranges are tested in the parser's unit tests).
fn fields() -> impl Strategy<Value = QueryFields> {
    (
        (
            0i64..4_102_444_800,
            0i64..400 * 86_400,
            proptest::option::of("[A-Z]{2}"),
            band(),
            0u16..=10,
            0u16..=10,
        ),
        (
            id_list(),
            id_list(),
            id_list(),
            proptest::collection::btree_set("[A-Z0-9]{1,8}", 0..3),
            place(),
        ),
    )
        .prop_map(
            |(
                (start, span, country, band, a, b),
                (ids, sensor_ids, location_ids, types, place),
            )| {
                QueryFields {
                    start,
                    end: start + span,
                    country,
                    band: band.map(|b| b as u8),
                    min_aqi: a.min(b),
                    max_aqi: a.max(b),
                    index: IndexKind::Daqi,
                    ids,
                    sensor_ids,
                    location_ids,
                    sensor_types: types.into_iter().collect(),
                    place,
                }
            },
        )
}

fn list<T: ToString>(values: &[T]) -> String {
    values
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary URL parameters never panic the parser, and every refusal names a field.
    #[test]
    fn url_parameters_never_panic_and_errors_name_a_field(
        params in proptest::collection::vec(("[a-zA-Z_]{0,12}", ".{0,40}"), 0..8)
    ) {
        match Query::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(q) => prop_assert!(q.start <= q.end && q.min_aqi <= q.max_aqi && q.max_aqi <= q.index.bounds().1),
            Err(e) => prop_assert!(!e.field.is_empty() && !e.message.is_empty()),
        }
    }

    /// Arbitrary bytes as a JSON body never panic the parser, and every refusal names a field.
    #[test]
    fn json_bodies_never_panic_and_errors_name_a_field(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(e) = Query::from_json(&body) {
            prop_assert!(!e.field.is_empty());
        }
    }

    /// A valid query written as URL parameters (RFC 3339, as a client would) parses back to the same query, and
    /// as a queued job it survives the wire unchanged.
    #[test]
    fn valid_queries_round_trip_through_text_and_the_wire(f in fields()) {
        let mut params = vec![
            ("start".to_string(), format_rfc3339(f.start)),
            ("end".to_string(), format_rfc3339(f.end)),
            ("min_aqi".to_string(), f.min_aqi.to_string()),
            ("max_aqi".to_string(), f.max_aqi.to_string()),
        ];
        if let Some(c) = &f.country {
            params.push(("country".into(), c.clone()));
        }
        if let Some(b) = f.band {
            params.push(("band".into(), Band::of_level(b).as_str().to_string()));
        }
        for (name, values) in [("id", &f.ids), ("sensor_id", &f.sensor_ids), ("location_id", &f.location_ids)] {
            if !values.is_empty() {
                params.push((name.into(), list(values)));
            }
        }
        if !f.sensor_types.is_empty() {
            params.push(("sensor_type".into(), list(&f.sensor_types)));
        }
        match f.place {
            Some(Place::Bbox { min_lon, min_lat, max_lon, max_lat }) => {
                params.push(("bbox".into(), list(&[min_lon, min_lat, max_lon, max_lat])));
            }
            Some(Place::Near { lat, lon, radius_km }) => {
                params.push(("near".into(), list(&[lat, lon, radius_km])));
            }
            None => {}
        }
        let parsed = Query::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("a valid query parses");
        prop_assert_eq!(parsed.to_fields(), f.clone());
        let job = Job { id: Uuid::new_v4(), query: parsed, ask: Default::default(), reply_to: "airq-reply-x".into(), submitted_at: 1 };
        let wire = serde_json::to_string(&job).expect("serialize");
        prop_assert_eq!(serde_json::from_str::<Job>(&wire).expect("deserialize"), job);
    }

    /// Whatever arrives on the request queue or a reply queue, reading it never panics, and a job that does
    /// deserialize carries a valid query.
    #[test]
    fn arbitrary_messages_never_panic_the_protocol(text in ".{0,300}") {
        if let Ok(job) = serde_json::from_str::<Job>(&text) {
            prop_assert!(job.query.start <= job.query.end);
        }
        let _ = serde_json::from_str::<Notice>(&text);
    }

    /// Arbitrary bytes never panic the feed reader.
    #[test]
    fn arbitrary_feeds_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut reader = FeedReader::new(&bytes[..]);
        for _ in reader.by_ref() {}
        let _ = reader.damage();
    }

    /// The real sample cut anywhere inside its array is always reported as damage, and the readings read before
    /// the cut are a prefix of the whole sample's.
    #[test]
    fn a_cut_feed_is_always_damage(cut in 2usize..SAMPLE.len() - 2) {
        let whole: Vec<_> = FeedReader::new(SAMPLE).collect();
        let mut reader = FeedReader::new(&SAMPLE[..cut]);
        let got: Vec<_> = reader.by_ref().collect();
        prop_assert!(reader.damage().is_some(), "a feed cut at {} read as whole", cut);
        prop_assert!(got.len() <= whole.len());
        prop_assert_eq!(&whole[..got.len()], &got[..]);
    }
}
