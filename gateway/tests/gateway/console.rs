//! The web console's routes over plain HTTP (issue 11): the page and its assets with their types, caching and
//! Content-Security-Policy, outside the API's rate limit; `?download` file names and the answered-path header;
//! CORS for the origins given and no other. What the page does in a browser is in `browser`.

use airq_gateway::fair_use::FairUseLimits;
use airq_gateway::routes::console;
use airq_gateway::routes::cors::parse_origin;
use airq_gateway::GatewayOptions;
use serde_json::Value;

use crate::support::{sample_readings, start};

const WINDOW: &str = "start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_with_types_caching_and_a_strict_policy() {
    let sys = start(GatewayOptions::default(), 0, &sample_readings()).await;
    let page = sys.client.get(sys.url("/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let policy = header(&page, "content-security-policy").to_string();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(
        !policy.contains("unsafe") && !policy.contains("http"),
        "{policy}"
    );
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let html = page.text().await.expect("html");
    let tag = console::tag();
    for (file, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let path = format!("/console/{tag}/{file}");
        assert!(html.contains(&path), "the page names {path}");
        let asset = sys.client.get(sys.url(&path)).send().await.expect("asset");
        assert_eq!(asset.status(), 200, "{path}");
        assert_eq!(header(&asset, "content-type"), content_type, "{path}");
        assert_eq!(
            header(&asset, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&asset, "content-security-policy").contains("'self'"));
    }
    // Every module the app imports is served too.
    for file in ["api.js", "form.js", "csv.js", "table.js", "charts.js"] {
        let asset = sys
            .client
            .get(sys.url(&format!("/console/{tag}/{file}")))
            .send()
            .await
            .expect("module");
        assert_eq!(asset.status(), 200, "{file}");
    }
    // An older page's tag still gets the bytes, but not for keeps; an unknown file is the API's JSON 404.
    let old = sys
        .client
        .get(sys.url("/console/0000/app.js"))
        .send()
        .await
        .expect("old tag");
    assert_eq!(old.status(), 200);
    assert_eq!(header(&old, "cache-control"), "no-cache");
    let missing = sys
        .client
        .get(sys.url(&format!("/console/{tag}/secret.txt")))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert!(body["error"].is_string());
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_the_console_does_not_count_against_the_api_rate() {
    let options = GatewayOptions {
        fair_use: FairUseLimits {
            requests_per_second: 1,
            limit_loopback: true,
            ..FairUseLimits::default()
        },
        ..GatewayOptions::default()
    };
    let sys = start(options, 0, &sample_readings()).await;
    let asset = format!("/console/{}/app.js", console::tag());
    for _ in 0..20 {
        for path in ["/", asset.as_str()] {
            let r = sys.client.get(sys.url(path)).send().await.expect("get");
            assert_eq!(r.status(), 200, "{path}");
        }
    }
    // The API itself is limited as before.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = sys
            .client
            .get(sys.url(&format!("/api/query?{WINDOW}")))
            .send()
            .await
            .expect("query");
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_names_the_file_and_answers_say_their_path() {
    let sys = start(GatewayOptions::default(), 1, &sample_readings()).await;
    let direct = sys
        .client
        .get(sys.url(&format!("/api/query?{WINDOW}&country=de&download=1")))
        .send()
        .await
        .expect("direct");
    assert_eq!(direct.status(), 200);
    assert_eq!(
        header(&direct, "content-disposition"),
        r#"attachment; filename="airq-DE-2019-04-16T14-00.csv""#
    );
    assert_eq!(header(&direct, "x-airq-answered"), "direct");
    let with_download = direct.bytes().await.expect("body");
    let plain = sys
        .client
        .get(sys.url(&format!("/api/query?{WINDOW}&country=de")))
        .send()
        .await
        .expect("plain");
    assert!(plain.headers().get("content-disposition").is_none());
    assert_eq!(plain.bytes().await.expect("body"), with_download);

    // `download` is not a query field: a bad query is still a 400 about its own field, with no attachment.
    let bad = sys
        .client
        .get(sys.url("/api/query?start=2019-04-16T15:00:00Z&end=2019-04-16T14:00:00Z&download=1"))
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);
    assert!(bad.headers().get("content-disposition").is_none());
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["field"], "end");

    let id = sys.submit_async(WINDOW).await;
    let queued = sys.result(&id).await;
    assert_eq!(queued.status(), 200);
    assert_eq!(header(&queued, "x-airq-answered"), "queued");
    assert!(queued.headers().get("content-disposition").is_none());
    let named = sys
        .client
        .get(sys.url(&format!(
            "/results/{id}?download=airq-all-2019-04-16T14-00.csv"
        )))
        .send()
        .await
        .expect("named");
    assert_eq!(
        header(&named, "content-disposition"),
        r#"attachment; filename="airq-all-2019-04-16T14-00.csv""#
    );
    let unnamed = sys
        .client
        .get(sys.url(&format!("/results/{id}?download=%22%3B%0D%0A.csv")))
        .send()
        .await
        .expect("unnamed");
    assert_eq!(
        header(&unnamed, "content-disposition"),
        format!(r#"attachment; filename="airq-{id}.csv""#)
    );
    sys.stop().await;
}

fn with_cors(origins: &[&str]) -> GatewayOptions {
    GatewayOptions {
        cors_origins: origins
            .iter()
            .map(|o| parse_origin(o).expect("origin"))
            .collect(),
        ..GatewayOptions::default()
    }
}

async fn preflight(sys: &crate::support::System, origin: &str) -> reqwest::Response {
    sys.client
        .request(reqwest::Method::OPTIONS, sys.url("/api/query"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "authorization, prefer, content-type",
        )
        .send()
        .await
        .expect("preflight")
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_the_origins_given_and_no_other() {
    let allowed = "https://dash.example.org";
    let sys = start(
        with_cors(&[allowed, "http://127.0.0.1:3000"]),
        0,
        &sample_readings(),
    )
    .await;
    let ok = preflight(&sys, allowed).await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(header(&ok, "access-control-allow-origin"), allowed);
    let methods = header(&ok, "access-control-allow-methods").to_ascii_uppercase();
    for method in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = header(&ok, "access-control-allow-headers").to_ascii_lowercase();
    for name in ["authorization", "content-type", "prefer"] {
        assert!(headers.contains(name), "{headers}");
    }
    // The answer itself: allowed, with the headers a page needs to follow the API exposed.
    let answer = sys
        .client
        .get(sys.url(&format!("/api/query?{WINDOW}")))
        .header("Origin", allowed)
        .send()
        .await
        .expect("query");
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), allowed);
    let exposed = header(&answer, "access-control-expose-headers").to_ascii_lowercase();
    for name in [
        "location",
        "retry-after",
        "x-airq-answered",
        "content-disposition",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }

    // Another origin, or none: not a single CORS header, and OPTIONS is the usual 405.
    let other = preflight(&sys, "https://evil.example.net").await;
    assert_eq!(cors_headers(&other), Vec::<String>::new());
    assert_eq!(other.status(), 405);
    assert!(header(&other, "vary").contains("origin"));
    let other_get = sys
        .client
        .get(sys.url(&format!("/api/query?{WINDOW}")))
        .header("Origin", "https://evil.example.net")
        .send()
        .await
        .expect("query");
    assert_eq!(other_get.status(), 200);
    assert_eq!(cors_headers(&other_get), Vec::<String>::new());
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cors_origins_no_page_elsewhere_is_allowed() {
    let sys = start(GatewayOptions::default(), 0, &sample_readings()).await;
    let r = preflight(&sys, "https://dash.example.org").await;
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    sys.stop().await;
}
