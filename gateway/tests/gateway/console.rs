//! The web console's HTTP side (issue 11): `?download` file names and the answered-path header.

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
