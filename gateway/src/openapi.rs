//! The API's OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` annotations and the
//! parameter and body types here, served at `/openapi.json` (and read by the contract test, which fuzzes a
//! running gateway with schemathesis against it).
//!
//! The names here mirror `airq_common`'s (formats, indices, groupings); a unit test holds them equal, so the
//! description cannot drift from what the parsers accept.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The filters every question takes (`/api/query`, `/api/latest`, `/api/aggregate`). A window (`start` and
/// `end`) is required, except when the query names `id`, `sensor_id` or `location_id` (all time) and on
/// `/api/latest` (the last hour of data).
///
/// The examples together are one question with an answer in the bundled sample (Germany, one hour, JSON), so
/// the contract test's example phase checks real rows against the row schema, not only empty arrays.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by the derive only: the handlers parse parameters with the query parser.
pub struct Filters {
    /// Window start, inclusive: RFC 3339 (`2019-04-16T14:00:00Z`), or `2019-04-16 14:00:00`, or a date.
    #[param(example = "2019-04-16T14:00:00Z")]
    start: Option<String>,
    /// Window end, inclusive, not before `start`.
    #[param(example = "2019-04-16T15:00:00Z")]
    end: Option<String>,
    /// ISO 3166 alpha-2 country code, any case.
    #[param(pattern = "^[A-Za-z]{2}$", example = "DE")]
    country: Option<String>,
    /// A band (category) of `index`: DAQI `Low`, `Moderate` (or `Medium`), `High`, `Very High` (or
    /// `Very_High`); US EPA `Good` … `Hazardous`; EAQI `Good` … `Extremely poor`.
    band: Option<String>,
    /// Lowest index value (DAQI 0–10, US EPA 0–500, EAQI 1–6).
    #[param(minimum = 0, maximum = 500)]
    min_aqi: Option<u16>,
    /// Highest index value.
    #[param(minimum = 0, maximum = 500)]
    max_aqi: Option<u16>,
    /// The index of `aqi`/`band` in the answer and in the filters.
    #[param(inline)]
    index: Option<IndexName>,
    /// Reading ids (the feed's measurement id), comma-separated, at most 100.
    #[param(pattern = "^[0-9]{1,19}(,[0-9]{1,19}){0,99}$")]
    id: Option<String>,
    /// Sensor ids, comma-separated, at most 100.
    #[param(pattern = "^[0-9]{1,19}(,[0-9]{1,19}){0,99}$")]
    sensor_id: Option<String>,
    /// Location ids, comma-separated, at most 100.
    #[param(pattern = "^[0-9]{1,19}(,[0-9]{1,19}){0,99}$")]
    location_id: Option<String>,
    /// Sensor types, comma-separated, matched ignoring case.
    #[param(pattern = "^[A-Za-z0-9._-]{1,32}(,[A-Za-z0-9._-]{1,32}){0,99}$")]
    sensor_type: Option<String>,
    /// A box `min_lon,min_lat,max_lon,max_lat` (readings without coordinates never match).
    bbox: Option<String>,
    /// A circle `lat,lon,radius_km` (great-circle distance; radius above 0, at most 20016).
    near: Option<String>,
    /// The answer's format; overrides `Accept`.
    #[param(inline, example = "json")]
    format: Option<FormatName>,
    /// Answer as a file download (`Content-Disposition: attachment`); a value ending in the format's extension
    /// names the file.
    download: Option<String>,
}

/// What an aggregate groups by and over what interval.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Grouping {
    /// The group (default `sensor`).
    #[param(inline)]
    by: Option<ByName>,
    /// The interval, UTC-aligned (default `1h`).
    #[param(inline)]
    every: Option<EveryName>,
}

/// `?wait=` on a result.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Wait {
    /// Wait up to this long for the job to end (`5s`, `1500ms`, or seconds; capped by the gateway).
    #[param(example = "5s")]
    wait: Option<String>,
    /// As on the query: a file download.
    download: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FormatName {
    Csv,
    Json,
    Ndjson,
    Geojson,
    LegacyCsv,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IndexName {
    Daqi,
    UsEpa,
    Eaqi,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ByName {
    Sensor,
    Location,
    Country,
}

#[derive(Serialize, ToSchema)]
pub enum EveryName {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "1d")]
    Day,
}

/// Every error: what is wrong and, for bad input, the field or parameter at fault.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// The parameter or body field to fix.
    pub field: Option<String>,
}

/// A queued job: poll `Location` (`/results/<id>`) after `Retry-After` seconds.
#[derive(Serialize, ToSchema)]
pub struct Pending {
    #[schema(example = "0b7e4bf5-6a53-4cf4-9d4c-3a4f1e0b2f11")]
    pub id: String,
    /// `queued` or `running`.
    pub status: String,
}

/// One reading (`format=json`, an array of these; `ndjson`, one per line; `geojson`, a Feature's properties).
#[derive(Serialize, ToSchema)]
pub struct ReadingRow {
    pub id: Option<u64>,
    pub sensor_id: u64,
    pub sensor_type: Option<String>,
    pub location_id: Option<u64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    pub country: Option<String>,
    pub indoor: Option<bool>,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// PM10, µg/m³ (the feed's P1).
    pub pm10: Option<f64>,
    /// PM2.5, µg/m³ (the feed's P2).
    pub pm25: Option<f64>,
    /// The value on the chosen index.
    pub aqi: Option<u16>,
    pub band: Option<String>,
}

/// One group in one interval (`/api/aggregate`). The group column is `sensor_id`, `location_id` or `country`
/// (with `by`); sensors and locations carry their last coordinates.
#[derive(Serialize, ToSchema)]
pub struct AggregateRow {
    pub interval_start: String,
    pub interval_end: String,
    pub sensor_id: Option<u64>,
    pub location_id: Option<u64>,
    pub country: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub readings: u64,
    pub pm25_count: u64,
    pub pm25_mean: Option<f64>,
    pub pm25_min: Option<f64>,
    pub pm25_max: Option<f64>,
    pub pm10_count: u64,
    pub pm10_mean: Option<f64>,
    pub pm10_min: Option<f64>,
    pub pm10_max: Option<f64>,
    /// The index of the interval's mean concentrations.
    pub aqi: Option<u16>,
    pub band: Option<String>,
}

/// A GeoJSON FeatureCollection (RFC 7946) of points; a row without coordinates has a `null` geometry.
#[derive(Serialize, ToSchema)]
pub struct FeatureCollection {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    pub kind: String,
    pub features: Vec<serde_json::Value>,
}

/// The legacy web form's body (`POST /api/query`); the URL parameters' names are accepted too, and so are
/// every filter of `GET /api/query` and `format`.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct LegacyBody {
    #[schema(example = "2019-04-16 14:00:00")]
    pub startDate: Option<String>,
    #[schema(example = "2019-04-16 15:00:00")]
    pub endDate: Option<String>,
    pub country: Option<String>,
    /// A band (`Low`, `Medium`, `High`, `Very_High`, ...).
    pub range: Option<String>,
    pub minAqi: Option<u16>,
    pub maxAqi: Option<u16>,
    pub format: Option<FormatName>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "airq",
        description = "Air-quality readings from the Sensor.Community network: filter, latest, aggregate; \
                       answered directly, or queued (202 + poll) when the gateway is busy."
    ),
    paths(
        crate::routes::query::get_query,
        crate::routes::query::post_query,
        crate::routes::query::get_latest,
        crate::routes::query::get_aggregate,
        crate::routes::results::get_result,
        crate::routes::results::delete_result,
        crate::routes::status::get_status,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::metrics::scrape,
        crate::routes::console::index,
        crate::routes::console::asset,
        crate::routes::results::get_api_result,
        crate::routes::results::delete_api_result,
        openapi_json,
    ),
    components(schemas(
        ErrorBody,
        Pending,
        ReadingRow,
        AggregateRow,
        FeatureCollection,
        LegacyBody
    ))
)]
pub struct ApiDoc;

/// The description, as JSON.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "This API's OpenAPI 3.1 description", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => crate::error::ApiError::Internal(e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airq_common::answer::{Every, Format, GroupBy};
    use airq_common::index::IndexKind;

    fn names<T: Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The enums in the description are the parsers' own names.
    #[test]
    fn documented_names_are_the_parsers() {
        let formats = names(&[
            FormatName::Csv,
            FormatName::Json,
            FormatName::Ndjson,
            FormatName::Geojson,
            FormatName::LegacyCsv,
        ]);
        let parsed: Vec<String> = Format::ALL.iter().map(|f| f.as_str().to_string()).collect();
        assert_eq!(formats, parsed);
        let indices = names(&[IndexName::Daqi, IndexName::UsEpa, IndexName::Eaqi]);
        let parsed: Vec<String> = IndexKind::ALL
            .iter()
            .map(|i| i.as_str().to_string())
            .collect();
        assert_eq!(indices, parsed);
        for by in names(&[ByName::Sensor, ByName::Location, ByName::Country]) {
            assert!(GroupBy::parse(&by).is_some(), "{by}");
        }
        for every in names(&[EveryName::Hour, EveryName::Day]) {
            assert!(Every::parse(&every).is_some(), "{every}");
        }
    }

    #[test]
    fn the_description_is_openapi_3_1_with_every_route() {
        let doc: serde_json::Value = serde_json::to_value(ApiDoc::openapi()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/api/query",
            "/api/latest",
            "/api/aggregate",
            "/results/{id}",
            "/api/status",
            "/healthz",
            "/readyz",
            "/metrics",
            "/",
            "/openapi.json",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }
}

/// The description as a Markdown page (`docs/api.md`, kept equal to this by a test): every route with its
/// parameters and responses, for readers without an OpenAPI viewer.
pub fn markdown() -> String {
    let doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(doc) => doc,
        Err(e) => return format!("the description does not serialize: {e}\n"),
    };
    let mut out = String::from(
        "# airq HTTP API\n\nGenerated from the code's OpenAPI 3.1 description (served at `/openapi.json`) by \
         `gateway/src/openapi.rs`; a test keeps this page equal to it (`AIRQ_WRITE_API_DOC=1 cargo test -p \
         airq-gateway --lib openapi` rewrites it).\n",
    );
    let text = |v: &serde_json::Value| {
        v.as_str()
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|")
    };
    if let Some(info) = doc.get("info") {
        out.push_str(&format!("\n{}\n", text(&info["description"])));
    }
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            out.push_str(&format!("\n## `{} {path}`\n\n", method.to_uppercase()));
            let summary = [text(&op["summary"]), text(&op["description"])].join(" ");
            out.push_str(&format!("{}\n", summary.trim()));
            if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                out.push_str(
                    "\n| parameter | in | type | description |\n| --- | --- | --- | --- |\n",
                );
                for p in params {
                    let schema = &p["schema"];
                    let kind = schema["enum"]
                        .as_array()
                        .map(|e| {
                            e.iter()
                                .map(&text)
                                .filter(|v| !v.is_empty())
                                .collect::<Vec<_>>()
                                .join(" \\| ")
                        })
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| match &schema["type"] {
                            serde_json::Value::Array(types) => {
                                types.iter().map(&text).collect::<Vec<_>>().join(" or ")
                            }
                            other => text(other),
                        });
                    out.push_str(&format!(
                        "| `{}`{} | {} | {} | {} |\n",
                        text(&p["name"]),
                        if p["required"] == true {
                            " (required)"
                        } else {
                            ""
                        },
                        text(&p["in"]),
                        kind,
                        text(&p["description"]),
                    ));
                }
            }
            if let Some(responses) = op["responses"].as_object() {
                out.push_str("\n| status | content | meaning |\n| --- | --- | --- |\n");
                for (status, r) in responses {
                    let types = r["content"]
                        .as_object()
                        .map(|c| {
                            c.keys()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "| {status} | {types} | {} |\n",
                        text(&r["description"])
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod page {
    /// `docs/api.md` is the description rendered: a route or parameter added in code shows up there, or this
    /// fails (`AIRQ_WRITE_API_DOC=1` rewrites the page).
    #[test]
    fn the_api_page_is_the_description() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
        let page = super::markdown();
        if std::env::var_os("AIRQ_WRITE_API_DOC").is_some() {
            std::fs::write(&path, &page).expect("write docs/api.md");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(on_disk == page, "docs/api.md is out of date: run AIRQ_WRITE_API_DOC=1 cargo test -p airq-gateway --lib openapi");
    }
}
