//! Issue 12 through the real gateway: every question in every format, direct and queued byte for byte; content
//! negotiation; each new parameter's bad value refused naming it; a reading by id, a sensor's history, a place,
//! the latest readings and aggregates checked against the sample data itself.

use std::collections::BTreeMap;

use airq_common::Reading;
use airq_gateway::GatewayOptions;
use serde_json::Value;

use crate::support::{sample_readings, start, System};

const DAY: &str = "start=2019-04-16&end=2019-04-17";

async fn get(sys: &System, path: &str) -> reqwest::Response {
    sys.client.get(sys.url(path)).send().await.expect("get")
}

/// A sensor with several readings in the sample, with coordinates and a location.
fn busy_sensor(readings: &[Reading]) -> &Reading {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for r in readings {
        *counts.entry(r.sensor_id).or_default() += 1;
    }
    readings
        .iter()
        .filter(|r| r.latitude.is_some() && r.longitude.is_some() && r.location_id.is_some())
        .max_by_key(|r| (counts[&r.sensor_id], r.sensor_id))
        .expect("a sensor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_question_and_format_is_the_same_direct_and_queued() {
    let data = sample_readings();
    let sys = start(GatewayOptions::default(), 2, &data).await;
    let s = busy_sensor(&data);
    let near = format!(
        "near={},{},10",
        s.latitude.unwrap_or_default(),
        s.longitude.unwrap_or_default()
    );
    let cases = [
        ("/api/query", format!("{DAY}&country=DE")),
        ("/api/query", format!("sensor_id={}", s.sensor_id)),
        ("/api/query", format!("{DAY}&{near}&index=us-epa")),
        ("/api/latest", "country=NL".to_string()),
        ("/api/latest", format!("{DAY}&index=eaqi")),
        ("/api/aggregate", format!("{DAY}&by=country&every=1h")),
        ("/api/aggregate", format!("{DAY}&{near}&by=sensor&every=1d")),
    ];
    let mut non_empty = 0;
    for (path, params) in &cases {
        for format in ["csv", "json", "ndjson", "geojson", "legacy-csv"] {
            if path.ends_with("aggregate") && format == "legacy-csv" {
                continue;
            }
            let params = format!("{params}&format={format}");
            let direct = get(&sys, &format!("{path}?{params}")).await;
            assert_eq!(direct.status(), 200, "{path}?{params}");
            let content_type = direct.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .to_string();
            let direct = direct.bytes().await.expect("body");
            let id = sys.submit_async_to(path, &params).await;
            let queued = sys.result(&id).await;
            assert_eq!(queued.status(), 200, "{path}?{params}");
            assert_eq!(
                queued.headers()["content-type"],
                content_type.as_str(),
                "{path}?{params}"
            );
            let queued = queued.bytes().await.expect("body");
            assert_eq!(direct, queued, "{path}?{params}");
            match format {
                "json" => {
                    let v: Value = serde_json::from_slice(&direct).expect("json");
                    if !v.as_array().expect("array").is_empty() {
                        non_empty += 1;
                    }
                    assert_eq!(content_type, "application/json");
                }
                "geojson" => {
                    let v: Value = serde_json::from_slice(&direct).expect("geojson");
                    assert_eq!(v["type"], "FeatureCollection");
                    assert_eq!(content_type, "application/geo+json");
                }
                "ndjson" => {
                    for line in direct.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        let _: Value = serde_json::from_slice(line).expect("a JSON line");
                    }
                }
                "legacy-csv" => assert!(direct.starts_with(
                    b"loc_alt,P1,P2,loc_lat,loc_country,loc_id,timestamp,loc_long,AQI,Range,id\n"
                )),
                _ => assert!(content_type.starts_with("text/csv")),
            }
        }
    }
    assert!(non_empty >= 6, "most cases have answers: {non_empty}");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_chooses_the_format_and_format_wins_over_it() {
    let sys = start(GatewayOptions::default(), 1, &sample_readings()).await;
    let url = sys.url(&format!("/api/query?{DAY}&country=DE"));
    for (accept, want) in [
        ("application/json", "application/json"),
        (
            "application/geo+json;q=0.9, text/csv;q=0.1",
            "application/geo+json",
        ),
        ("application/x-ndjson", "application/x-ndjson"),
        ("*/*", "text/csv; charset=utf-8"),
        ("text/html", "text/csv; charset=utf-8"),
    ] {
        let r = sys
            .client
            .get(&url)
            .header("accept", accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], want, "{accept}");
    }
    let r = sys
        .client
        .get(format!("{url}&format=csv"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_parameter_refuses_bad_values_naming_itself() {
    let sys = start(GatewayOptions::default(), 1, &sample_readings()).await;
    let cases = [
        ("/api/query", format!("{DAY}&id=x"), "id"),
        ("/api/query", format!("{DAY}&sensor_id=1,,2"), "sensor_id"),
        ("/api/query", format!("{DAY}&location_id=-1"), "location_id"),
        (
            "/api/query",
            format!("{DAY}&sensor_type=%3Dcmd()"),
            "sensor_type",
        ),
        ("/api/query", format!("{DAY}&bbox=1,2,3"), "bbox"),
        ("/api/query", format!("{DAY}&bbox=10,50,9,51"), "bbox"),
        ("/api/query", format!("{DAY}&near=48,9,0"), "near"),
        ("/api/query", format!("{DAY}&near=95,9,1"), "near"),
        ("/api/query", format!("{DAY}&index=aqi"), "index"),
        (
            "/api/query",
            format!("{DAY}&index=us-epa&max_aqi=501"),
            "max_aqi",
        ),
        ("/api/query", format!("{DAY}&index=eaqi&band=High"), "band"),
        ("/api/query", format!("{DAY}&format=xml"), "format"),
        ("/api/query", "sensor_type=SDS011".to_string(), "start"),
        ("/api/latest", "format=pdf".to_string(), "format"),
        ("/api/latest", "near=1,2".to_string(), "near"),
        ("/api/aggregate", format!("{DAY}&by=planet"), "by"),
        ("/api/aggregate", format!("{DAY}&every=1w"), "every"),
        (
            "/api/aggregate",
            format!("{DAY}&format=legacy-csv"),
            "format",
        ),
        ("/api/aggregate", format!("{DAY}&colour=red"), "colour"),
    ];
    for (path, params, field) in &cases {
        let r = get(&sys, &format!("{path}?{params}")).await;
        assert_eq!(r.status(), 400, "{path}?{params}");
        let body: Value = r.json().await.expect("a JSON error");
        assert_eq!(body["field"], *field, "{path}?{params}: {body}");
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_by_id_sensor_and_place_are_the_samples() {
    let data = sample_readings();
    let sys = start(GatewayOptions::default(), 1, &data).await;
    let with_id = data.iter().find(|r| r.id.is_some()).expect("an id");
    let id = with_id.id.unwrap_or_default();
    let rows: Vec<Value> = get(&sys, &format!("/api/query?id={id}&format=json"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id);
    assert_eq!(rows[0]["sensor_id"], with_id.sensor_id);

    let s = busy_sensor(&data);
    let history: Vec<Value> = get(
        &sys,
        &format!("/api/query?sensor_id={}&format=json", s.sensor_id),
    )
    .await
    .json()
    .await
    .expect("json");
    let want = data.iter().filter(|r| r.sensor_id == s.sensor_id).count();
    assert_eq!(history.len(), want);
    assert!(history
        .windows(2)
        .all(|w| w[0]["timestamp"].as_str() <= w[1]["timestamp"].as_str()));

    let (lat, lon) = (
        s.latitude.unwrap_or_default(),
        s.longitude.unwrap_or_default(),
    );
    let geo: Value = get(
        &sys,
        &format!("/api/query?{DAY}&near={lat},{lon},10&format=geojson"),
    )
    .await
    .json()
    .await
    .expect("geojson");
    let features = geo["features"].as_array().expect("features");
    let want = data
        .iter()
        .filter(|r| match (r.latitude, r.longitude) {
            (Some(a), Some(b)) => airq_common::query::filters::distance_km(lat, lon, a, b) <= 10.0,
            _ => false,
        })
        .count();
    assert_eq!(features.len(), want);
    assert!(want >= 1);
    for f in features {
        let c = &f["geometry"]["coordinates"];
        let (flon, flat) = (c[0].as_f64().expect("lon"), c[1].as_f64().expect("lat"));
        assert!(airq_common::query::filters::distance_km(lat, lon, flat, flon) <= 10.0);
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_each_sensors_newest_reading_of_the_last_hour_of_data() {
    let data = sample_readings();
    let sys = start(GatewayOptions::default(), 1, &data).await;
    let newest = data.iter().map(|r| r.timestamp).max().expect("data");
    let mut want: BTreeMap<u64, i64> = BTreeMap::new();
    for r in data.iter().filter(|r| r.timestamp >= newest - 3600) {
        let t = want.entry(r.sensor_id).or_insert(r.timestamp);
        *t = (*t).max(r.timestamp);
    }
    let rows: Vec<Value> = get(&sys, "/api/latest?format=json")
        .await
        .json()
        .await
        .expect("json");
    let got: BTreeMap<u64, i64> = rows
        .iter()
        .map(|r| {
            let ts = airq_common::time::parse_query_timestamp(r["timestamp"].as_str().expect("ts"))
                .expect("a time");
            (r["sensor_id"].as_u64().expect("sensor"), ts)
        })
        .collect();
    assert_eq!(rows.len(), got.len(), "one row per sensor");
    assert_eq!(got, want);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_count_and_average_the_readings() {
    let data = sample_readings();
    let sys = start(GatewayOptions::default(), 1, &data).await;
    let rows: Vec<Value> = get(
        &sys,
        &format!("/api/aggregate?{DAY}&by=country&every=1d&format=json"),
    )
    .await
    .json()
    .await
    .expect("json");
    let de: Vec<&Reading> = data.iter().filter(|r| r.country == "DE").collect();
    let row = rows
        .iter()
        .find(|r| r["country"] == "DE")
        .expect("a DE row");
    assert_eq!(row["readings"], de.len());
    let pm25: Vec<f64> = de.iter().filter_map(|r| r.pm25).collect();
    let mean = pm25.iter().sum::<f64>() / pm25.len() as f64;
    assert!((row["pm25_mean"].as_f64().expect("mean") - mean).abs() < 1e-9);
    assert_eq!(row["pm25_count"], pm25.len());
    let max = pm25.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(row["pm25_max"].as_f64(), Some(max));
    assert_eq!(row["interval_start"], "2019-04-16T00:00:00Z");
    assert_eq!(row["interval_end"], "2019-04-17T00:00:00Z");
    let total: u64 = rows
        .iter()
        .map(|r| r["readings"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total as usize, data.len());
    sys.stop().await;
}
