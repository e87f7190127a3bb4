//! Property tests (issue 10) for what hostile input reaches first: the query parser (URL parameters and the
//! JSON body), the job protocol, and the feed reader. Each property holds for arbitrary input: never a panic,
//! every error names a field, every valid value round-trips, and damage is always reported.

use airq_common::feed::FeedReader;
use airq_common::index::Band;
use airq_common::protocol::{Job, Notice};
use airq_common::query::QueryFields;
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

/// Valid query fields: a window within the years airq serves, an optional country, band and index range.
fn fields() -> impl Strategy<Value = QueryFields> {
    (
        0i64..4_102_444_800,
        0i64..400 * 86_400,
        proptest::option::of("[A-Z]{2}"),
        band(),
        0u8..=10,
        0u8..=10,
    )
        .prop_map(|(start, span, country, band, a, b)| QueryFields {
            start,
            end: start + span,
            country,
            band,
            min_aqi: a.min(b),
            max_aqi: a.max(b),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary URL parameters never panic the parser, and every refusal names a field.
    #[test]
    fn url_parameters_never_panic_and_errors_name_a_field(
        params in proptest::collection::vec(("[a-zA-Z_]{0,12}", ".{0,40}"), 0..8)
    ) {
        match Query::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(q) => prop_assert!(q.start <= q.end && q.min_aqi <= q.max_aqi && q.max_aqi <= 10),
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
            params.push(("band".into(), b.as_str().to_string()));
        }
        let parsed = Query::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("a valid query parses");
        prop_assert_eq!(parsed.to_fields(), f.clone());
        let job = Job { id: Uuid::new_v4(), query: parsed, reply_to: "airq-reply-x".into(), submitted_at: 1 };
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
