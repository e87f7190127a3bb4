//! The query parsers' tests: both forms, and that every error names the field as the client named it.

use super::*;

fn err(body: &str) -> QueryError {
    Query::from_json(body.as_bytes()).expect_err(body)
}

#[test]
fn legacy_body_parses() {
    let q = Query::from_json(
        br#"{"startDate": "2019-04-16 14:00:00", "endDate": "2019-04-16T15:00:00Z", "country": "de", "range": "Medium", "minAqi": 0, "maxAqi": "10"}"#,
    )
    .expect("valid");
    assert_eq!(q.start, 1_555_423_200);
    assert_eq!(q.end, 1_555_426_800);
    assert_eq!(q.country.as_deref(), Some("DE"));
    assert_eq!(q.band, Some(Band::Moderate as u8));
    assert_eq!((q.min_aqi, q.max_aqi), (0, 10));
}

#[test]
fn optional_fields_default_and_empty_strings_are_absent() {
    let q = Query::from_json(
        br#"{"startDate": "2019-04-16", "endDate": "2019-04-17", "country": "", "range": null}"#,
    )
    .expect("valid");
    assert_eq!(q.country, None);
    assert_eq!(q.band, None);
    assert_eq!((q.min_aqi, q.max_aqi), (0, 10));
}

#[test]
fn errors_name_the_field() {
    assert_eq!(err(r#"{"endDate": "2019-04-16"}"#).field, "startDate");
    assert_eq!(err(r#"{"startDate": "2019-04-16"}"#).field, "endDate");
    assert_eq!(
        err(r#"{"startDate": "soon", "endDate": "2019-04-16"}"#).field,
        "startDate"
    );
    assert_eq!(
        err(r#"{"startDate": "2019-04-17", "endDate": "2019-04-16"}"#).field,
        "endDate"
    );
    let base = r#""startDate": "2019-04-16", "endDate": "2019-04-17""#;
    assert_eq!(
        err(&format!(r#"{{{base}, "country": "DEU"}}"#)).field,
        "country"
    );
    assert_eq!(
        err(&format!(r#"{{{base}, "country": 49}}"#)).field,
        "country"
    );
    assert_eq!(
        err(&format!(r#"{{{base}, "range": "Awful"}}"#)).field,
        "range"
    );
    assert_eq!(err(&format!(r#"{{{base}, "minAqi": 11}}"#)).field, "minAqi");
    assert_eq!(err(&format!(r#"{{{base}, "minAqi": -1}}"#)).field, "minAqi");
    assert_eq!(
        err(&format!(r#"{{{base}, "maxAqi": 2.5}}"#)).field,
        "maxAqi"
    );
    assert_eq!(
        err(&format!(r#"{{{base}, "minAqi": 5, "maxAqi": 4}}"#)).field,
        "maxAqi"
    );
    assert_eq!(
        err(&format!(r#"{{{base}, "contry": "DE"}}"#)).field,
        "contry"
    );
    assert_eq!(
        err(&format!(r#"{{{base}, "start": "2019-04-16"}}"#)).field,
        "start"
    );
    assert_eq!(err("[1]").field, "body");
    assert_eq!(err("{").field, "body");
}

#[test]
fn a_key_given_twice_in_the_body_is_refused_naming_it() {
    let base = r#""startDate": "2019-04-16", "endDate": "2019-04-17""#;
    let twice = err(&format!(r#"{{{base}, "startDate": "2019-04-15"}}"#));
    assert_eq!(twice.field, "startDate");
    assert!(twice.message.contains("more than once"), "{twice}");
    // Written with an escape it is the same key; given twice it is refused even when both mean "absent".
    let escaped = err(&format!(r#"{{{base}, "end\u0044ate": "2019-04-18"}}"#));
    assert_eq!(escaped.field, "endDate");
    let absent = err(&format!(r#"{{{base}, "country": "", "country": null}}"#));
    assert_eq!(absent.field, "country");
    // A syntax error after a repeat is still reported as one.
    assert_eq!(
        err(&format!(r#"{{{base}, "startDate": "x",}}"#)).field,
        "body"
    );
}

#[test]
fn url_params_parse() {
    let q = Query::from_params([
        ("start", "2019-04-16T14:00:00Z"),
        ("end", "2019-04-16T15:00:00Z"),
        ("band", "very_high"),
        ("min_aqi", "3"),
    ])
    .expect("valid");
    assert_eq!(q.band, Some(Band::VeryHigh as u8));
    assert_eq!(q.min_aqi, 3);
    let e =
        Query::from_params([("start", "2019-04-16"), ("start", "2019-04-17")]).expect_err("dup");
    assert_eq!(e.field, "start");
}

#[test]
fn deserializing_validates() {
    let ok = r#"{"start":5,"end":10,"country":"de","band":null,"min_aqi":0,"max_aqi":10}"#;
    let q: Query = serde_json::from_str(ok).expect("valid");
    assert_eq!(q.country.as_deref(), Some("DE"));
    for bad in [
        r#"{"start":10,"end":5,"country":null,"band":null,"min_aqi":0,"max_aqi":10}"#,
        r#"{"start":5,"end":10,"country":"DEU","band":null,"min_aqi":0,"max_aqi":10}"#,
        r#"{"start":5,"end":10,"country":null,"band":null,"min_aqi":0,"max_aqi":11}"#,
        r#"{"start":5,"end":10,"country":null,"band":null,"min_aqi":7,"max_aqi":6}"#,
        r#"{"start":5,"end":10,"country":null,"band":null,"min_aqi":0,"max_aqi":10,"x":1}"#,
    ] {
        assert!(serde_json::from_str::<Query>(bad).is_err(), "{bad}");
    }
    let round: Query = serde_json::from_str(&serde_json::to_string(&q).expect("ser")).expect("de");
    assert_eq!(round, q);
}

#[test]
fn equal_bounds_are_a_valid_instant() {
    let q = Query::from_json(
        br#"{"startDate": "2019-04-16 14:22:52", "endDate": "2019-04-16 14:22:52"}"#,
    )
    .expect("valid");
    assert_eq!(q.start, q.end);
}

fn get_err(params: &[(&str, &str)]) -> QueryError {
    Query::from_params(params.iter().copied()).expect_err("refused")
}

/// A GET client sent URL parameters: errors name them (`start`, not the body's `startDate`), and an unknown
/// parameter lists the parameters a GET takes.
#[test]
fn get_errors_name_the_url_parameters() {
    let missing = get_err(&[("end", "2019-04-17")]);
    assert_eq!(missing.field, "start");
    assert_eq!(get_err(&[("start", "2019-04-17")]).field, "end");
    let unknown = get_err(&[
        ("start", "2019-04-16"),
        ("end", "2019-04-17"),
        ("colour", "red"),
    ]);
    assert_eq!(unknown.field, "colour");
    assert!(
        unknown
            .message
            .ends_with("expected start, end, country, band, min_aqi, max_aqi, index, id, sensor_id, location_id, sensor_type, bbox, near"),
        "{unknown}"
    );
    let window = [("start", "2019-04-16"), ("end", "2019-04-17")];
    let with = |extra: (&'static str, &'static str)| {
        let mut params = window.to_vec();
        params.push(extra);
        get_err(&params)
    };
    assert_eq!(with(("band", "Awful")).field, "band");
    assert_eq!(with(("min_aqi", "11")).field, "min_aqi");
    assert_eq!(with(("max_aqi", "x")).field, "max_aqi");
    assert_eq!(with(("country", "DEU")).field, "country");
    // min_aqi above the default max_aqi: the error names the GET name of the bound the client did not send.
    let above = with(("min_aqi", "11"));
    assert!(above.message.contains("0 to 10"), "{above}");
    let backwards = get_err(&[("start", "2019-04-17"), ("end", "2019-04-16")]);
    assert_eq!(backwards.field, "end");
    assert!(backwards.message.contains("before start"), "{backwards}");
    // The legacy names are accepted in a GET too, and an error about one names it as sent.
    assert_eq!(
        get_err(&[("startDate", "soon"), ("end", "2019-04-17")]).field,
        "startDate"
    );
    let both = get_err(&[
        ("start", "2019-04-16"),
        ("startDate", "2019-04-16"),
        ("end", "2019-04-17"),
    ]);
    assert_eq!(both.field, "startDate");
    assert!(both.message.contains("together with start"), "{both}");
}

/// A POST client sent the legacy body: errors name its JSON fields, and an unknown one lists the body's fields.
#[test]
fn json_errors_name_the_body_fields() {
    assert_eq!(err(r#"{"endDate": "2019-04-16"}"#).field, "startDate");
    assert_eq!(err(r#"{"startDate": "2019-04-16"}"#).field, "endDate");
    let unknown = err(r#"{"startDate": "2019-04-16", "endDate": "2019-04-17", "colour": "red"}"#);
    assert_eq!(unknown.field, "colour");
    assert!(
        unknown
            .message
            .ends_with("expected startDate, endDate, country, range, minAqi, maxAqi, index, id, sensor_id, location_id, sensor_type, bbox, near"),
        "{unknown}"
    );
    let backwards = err(r#"{"startDate": "2019-04-17", "endDate": "2019-04-16"}"#);
    assert!(
        backwards.message.contains("before startDate"),
        "{backwards}"
    );
    // A URL parameter name in a body is accepted and named as sent.
    assert_eq!(
        err(r#"{"start": "2019-04-16", "end": "2019-04-17", "min_aqi": 12}"#).field,
        "min_aqi"
    );
}

/// Issue 12: every new parameter parses in both forms, and each bad value is refused naming it.
#[test]
fn key_place_and_index_parameters() {
    let q = Query::from_params([("id", "6169764730")]).expect("an id needs no window");
    assert_eq!(q.ids, vec![6_169_764_730]);
    assert_eq!((q.start, q.end), ALL_TIME);
    let q = Query::from_json(
        br#"{"sensor_id": [3, 1], "sensor_type": "sds011,PMS5003", "near": [48.78, 9.18, 10], "index": "us-epa",
            "band": "unhealthy for sensitive groups", "min_aqi": 101}"#,
    )
    .expect("valid");
    assert_eq!(q.sensor_ids, vec![1, 3]);
    assert_eq!(q.sensor_types, vec!["PMS5003", "SDS011"]);
    assert_eq!(q.index, IndexKind::UsEpa);
    assert_eq!((q.band, q.min_aqi, q.max_aqi), (Some(2), 101, 500));
    assert!(matches!(q.place, Some(Place::Near { .. })));
    let window = [("start", "2019-04-16"), ("end", "2019-04-17")];
    let bad = |extra: &[(&'static str, &'static str)]| {
        let mut params = window.to_vec();
        params.extend_from_slice(extra);
        Query::from_params(params).expect_err("bad").field
    };
    assert_eq!(bad(&[("id", "abc")]), "id");
    assert_eq!(bad(&[("sensor_id", "1,,2")]), "sensor_id");
    assert_eq!(bad(&[("location_id", "-4")]), "location_id");
    assert_eq!(bad(&[("sensor_type", "SDS 011")]), "sensor_type");
    assert_eq!(bad(&[("bbox", "1,2,3")]), "bbox");
    assert_eq!(bad(&[("near", "48,9,0")]), "near");
    assert_eq!(bad(&[("near", "48,9,1"), ("bbox", "0,0,1,1")]), "near");
    assert_eq!(bad(&[("index", "aqi")]), "index");
    assert_eq!(bad(&[("index", "eaqi"), ("max_aqi", "7")]), "max_aqi");
    assert_eq!(bad(&[("index", "eaqi"), ("band", "Low")]), "band");
    assert_eq!(bad(&[("index", "us-epa"), ("min_aqi", "501")]), "min_aqi");
    // Without a key, a window is still required.
    assert_eq!(
        Query::from_params([("sensor_type", "SDS011")])
            .expect_err("window")
            .field,
        "start"
    );
    // Two spellings of one question are one normal form.
    let a = Query::from_params([("sensor_id", "2,1"), ("sensor_type", "sds011")]).expect("a");
    let b = Query::from_json(br#"{"sensor_id": [1, 2, 2], "sensor_type": ["SDS011"]}"#).expect("b");
    assert_eq!(a.normal_form(), b.normal_form());
}

#[test]
fn the_default_window_applies_when_neither_bound_is_given() {
    let options = ParseOptions {
        extras: &["format"],
        default_window: Some((100, 200)),
    };
    let p = Query::parse_params([("format", "json"), ("country", "de")], options).expect("valid");
    assert_eq!((p.query.start, p.query.end), (100, 200));
    assert_eq!(p.extra("format"), Some("json"));
    let p = Query::parse_params([("start", "1970-01-01T00:01:00Z")], options).expect("valid");
    assert_eq!((p.query.start, p.query.end), (60, 200));
    assert_eq!(
        Query::parse_params([("colour", "red")], options)
            .expect_err("unknown")
            .field,
        "colour"
    );
}
