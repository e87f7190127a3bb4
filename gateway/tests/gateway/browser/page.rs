//! The console over the bundled sample: a direct answer with its table, charts and download; the API's 400 next
//! to its field; a queued job's progress and its cancel; a shared link; keyboard use; a phone-sized window.

use airq_gateway::GatewayOptions;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::json;

use super::{placed_sensors, Console, WINDOW};
use crate::support::sample_readings;

fn form_window() -> [(&'static str, &'static str); 2] {
    // datetime-local values, taken as UTC by the page.
    [("start", "2019-04-16T14:00"), ("end", "2019-04-16T15:00")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_answer_shows_count_path_table_charts_and_download_with_nothing_fetched_elsewhere()
{
    let console = Console::open(GatewayOptions::default(), 0, &sample_readings()).await;
    let b = &console.browser;
    let [start, end] = form_window();
    console.submit(&[start, end, ("country", "DE")]).await;
    let shown = console.answered().await;

    let params = format!("start={}&end={}&country=DE", WINDOW.0, WINDOW.1);
    let rows = console.api_rows(&params).await;
    assert_eq!(shown as usize, rows.len() - 1, "the page counts every row");
    assert!(shown > 50, "the sample has many German readings");
    assert_eq!(b.text("path").await, "answered directly");
    // The service panel reads /api/status as a person would: the data, the queue, the gateway.
    let status = b
        .until(
            "the service panel shows the data",
            "const p = document.getElementById('status'); \
             return !p.hidden && p.textContent.includes('readings') ? p.textContent : '';",
        )
        .await;
    let status = status.as_str().unwrap_or_default();
    assert!(
        status.contains(&format!("{} readings", sample_readings().len())),
        "{status}"
    );
    assert!(
        status.contains("waiting") && status.contains("direct answers in flight"),
        "{status}"
    );
    assert!(!status.contains('{'), "no raw JSON: {status}");
    assert!(b.text("took").await.ends_with(" s"));
    assert!(b.text("summary").await.contains("answered directly"));

    // The table: the header and the first rows, as the API sent them; only a screenful in the DOM.
    let first_row = b
        .js(
            "return [...document.querySelectorAll('#table tbody tr:not(.spacer)')][0]
               .querySelectorAll('td')[0].textContent;",
            vec![],
        )
        .await;
    assert_eq!(first_row, json!(rows[1][0]));
    let header = b
        .js(
            "return [...document.querySelectorAll('#table thead th')].map(th => th.textContent);",
            vec![],
        )
        .await;
    assert_eq!(header, json!(rows[0]));

    // Both charts: PM2.5 and PM10 lines, and one marker per placed sensor with a legend.
    let lines = b
        .js(
            "return [...document.querySelectorAll('#series-chart svg [data-series]')]
               .map(p => p.dataset.series).sort();",
            vec![],
        )
        .await;
    assert_eq!(lines, json!(["pm10", "pm25"]));
    let markers = b
        .js(
            "return document.querySelectorAll('#map-chart svg .point').length;",
            vec![],
        )
        .await;
    assert_eq!(markers, json!(placed_sensors(&rows)));
    assert!(b.text("map-legend").await.contains("Low"));

    // The query is in the page's URL now.
    let url = b.client.current_url().await.expect("url");
    assert!(url.query().unwrap_or("").contains("country=DE"), "{url}");

    // Download CSV: the link's name is the one the gateway gives the file.
    let (href, name) = {
        let v = b
            .js(
                "const a = document.getElementById('download'); \
                 return [a.href, a.download, a.hidden];",
                vec![],
            )
            .await;
        assert_eq!(v[2], json!(false), "the link is shown");
        (
            v[0].as_str().expect("href").to_string(),
            v[1].as_str().expect("name").to_string(),
        )
    };
    assert_eq!(name, "airq-DE-2019-04-16T14-00.csv");
    assert!(href.starts_with(&console.sys.base), "{href}");
    let file = console
        .sys
        .client
        .get(&href)
        .send()
        .await
        .expect("download");
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.headers()["content-disposition"],
        format!("attachment; filename=\"{name}\"").as_str()
    );
    assert_eq!(file.headers()["x-airq-answered"], "direct");
    // The same bytes as the API gives for the query in the page's URL (its parameters are the API's).
    let downloaded = file.bytes().await.expect("download body");
    let api = console
        .sys
        .client
        .get(
            console
                .sys
                .url(&format!("/api/query?{}", url.query().unwrap_or(""))),
        )
        .send()
        .await
        .expect("api")
        .bytes()
        .await
        .expect("api body");
    assert!(
        downloaded.len() > 100 && downloaded == api,
        "the download is the API's answer"
    );

    assert_eq!(console.console_errors().await, Vec::<String>::new());
    assert_eq!(console.foreign_requests().await, Vec::<String>::new());
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_field_shows_the_apis_message_next_to_that_field() {
    let console = Console::open(GatewayOptions::default(), 0, &sample_readings()).await;
    let b = &console.browser;
    console
        .submit(&[("start", "2019-04-16T15:00"), ("end", "2019-04-16T14:00")])
        .await;
    let message = b
        .until(
            "the end field's error",
            "return document.getElementById('end-error').textContent;",
        )
        .await;
    let api: serde_json::Value = console
        .sys
        .client
        .get(
            console
                .sys
                .url("/api/query?start=2019-04-16T15:00:00Z&end=2019-04-16T14:00:00Z"),
        )
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(api["field"], "end");
    assert_eq!(message, api["error"], "the API's own words");
    let state = b
        .js(
            "const end = document.getElementById('end'); \
             return [end.getAttribute('aria-invalid'), document.activeElement.id, \
                     end.getAttribute('aria-describedby').includes('end-error'), \
                     document.getElementById('start-error').textContent];",
            vec![],
        )
        .await;
    assert_eq!(state, json!(["true", "end", true, ""]));
    assert_eq!(
        b.js(
            "return document.getElementById('answer').dataset.state;",
            vec![]
        )
        .await,
        json!("error")
    );
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_query_shows_queued_then_done_with_its_job_id() {
    let options = GatewayOptions {
        direct_limit: 0,
        ..GatewayOptions::default()
    };
    let console = Console::open(options, 1, &sample_readings()).await;
    let b = &console.browser;
    let [start, end] = form_window();
    console.submit(&[start, end]).await;
    let shown = console.answered().await;
    let rows = console
        .api_rows(&format!("start={}&end={}", WINDOW.0, WINDOW.1))
        .await;
    assert_eq!(shown as usize, rows.len() - 1);
    assert_eq!(b.text("path").await, "answered by a queued job");
    let id = b.text("job-id").await;
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id:?}");
    let log = b
        .js(
            "return [...document.querySelectorAll('#job-log li')].map(li => li.dataset.status);",
            vec![],
        )
        .await;
    let log: Vec<String> = serde_json::from_value(log).expect("statuses");
    assert_eq!(log.first().map(String::as_str), Some("queued"), "{log:?}");
    assert_eq!(log.last().map(String::as_str), Some("done"), "{log:?}");
    assert!(b.text("job-elapsed").await.ends_with(" s"));
    let cancel_hidden = b
        .js("return document.getElementById('cancel').hidden;", vec![])
        .await;
    assert_eq!(cancel_hidden, json!(true), "nothing left to cancel");

    // The download comes from the job's stored answer, under the query's name.
    let href = b
        .js("return document.getElementById('download').href;", vec![])
        .await;
    let href = href.as_str().expect("href");
    assert!(href.contains(&format!("/results/{id}?download=")), "{href}");
    let file = console.sys.client.get(href).send().await.expect("download");
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.headers()["content-disposition"],
        "attachment; filename=\"airq-all-2019-04-16T14-00.csv\""
    );
    assert_eq!(file.headers()["x-airq-answered"], "queued");
    assert_eq!(console.foreign_requests().await, Vec::<String>::new());
    console.stop().await;
}

/// With no worker the job stays queued for as long as the test likes: a slow job without faking one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_withdraws_a_queued_job() {
    let options = GatewayOptions {
        direct_limit: 0,
        ..GatewayOptions::default()
    };
    let console = Console::open(options, 0, &sample_readings()).await;
    let b = &console.browser;
    let [start, end] = form_window();
    console.submit(&[start, end]).await;
    b.until(
        "the job is shown as queued with a Cancel button",
        "return document.getElementById('job-state').textContent === 'queued' \
           && !document.getElementById('cancel').hidden;",
    )
    .await;
    let id = b.text("job-id").await;
    b.client
        .find(Locator::Id("cancel"))
        .await
        .expect("Cancel")
        .click()
        .await
        .expect("click Cancel");
    b.until(
        "the job is shown as cancelled",
        "return document.getElementById('answer').dataset.state === 'cancelled';",
    )
    .await;
    assert!(b.text("summary").await.starts_with("Cancelled"));
    let gone = console
        .sys
        .client
        .get(console.sys.url(&format!("/results/{id}")))
        .send()
        .await
        .expect("result");
    assert_eq!(gone.status(), 410, "the gateway forgot the job");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_link_fills_the_form_and_runs_it_and_fits_a_phone() {
    let link = format!(
        "/?start={}&end={}&country=de&band=Low&min_aqi=1&max_aqi=3",
        WINDOW.0, WINDOW.1
    );
    // A phone's width (CSS pixels).
    let console = Console::open_at(
        GatewayOptions::default(),
        0,
        &sample_readings(),
        &link,
        (412, 915),
    )
    .await;
    let b = &console.browser;
    let shown = console.answered().await;
    let rows = console.api_rows(&link[2..]).await;
    assert_eq!(shown as usize, rows.len() - 1);
    assert!(shown > 0);
    let form = b
        .js(
            "return ['start', 'end', 'country', 'band', 'min_aqi', 'max_aqi']
               .map(id => document.getElementById(id).value);",
            vec![],
        )
        .await;
    assert_eq!(
        form,
        json!([
            "2019-04-16T14:00",
            "2019-04-16T15:00",
            "de",
            "low",
            "1",
            "3"
        ])
    );
    // Nothing wider than the screen but the table, which scrolls inside its own box.
    let overflow = b
        .js(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await;
    assert_eq!(overflow, json!(0), "the page fits a phone's width");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_reaches_the_fields_and_submits() {
    let console = Console::open(GatewayOptions::default(), 0, &sample_readings()).await;
    let b = &console.browser;
    // The window as a date picker would leave it (typing into datetime-local depends on the locale).
    b.js(
        "document.getElementById('start').value = '2019-04-16T14:00'; \
         document.getElementById('end').value = '2019-04-16T15:00';",
        vec![],
    )
    .await;
    let tab_to = |id: &'static str| async move {
        for _ in 0..30 {
            let active = b.js("return document.activeElement.id;", vec![]).await;
            if active == json!(id) {
                return;
            }
            press(b, Key::Tab).await;
        }
        panic!("Tab never reached #{id}");
    };
    tab_to("country").await;
    type_text(b, "NL").await;
    tab_to("submit").await;
    let outline = b
        .js(
            "const s = getComputedStyle(document.activeElement); \
             return [s.outlineStyle, s.outlineWidth];",
            vec![],
        )
        .await;
    assert_ne!(outline[0], json!("none"), "focus is visible: {outline}");
    press(b, Key::Enter).await;
    let shown = console.answered().await;
    let rows = console
        .api_rows(&format!("start={}&end={}&country=NL", WINDOW.0, WINDOW.1))
        .await;
    assert_eq!(shown as usize, rows.len() - 1);
    assert!(shown > 0, "the sample has Dutch readings");
    console.stop().await;
}

async fn press(b: &super::Browser, key: Key) {
    let k: char = key.into();
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: k })
        .then(KeyAction::Up { value: k });
    b.client.perform_actions(actions).await.expect("key press");
}

async fn type_text(b: &super::Browser, text: &str) {
    let mut actions = KeyActions::new("keyboard".into());
    for c in text.chars() {
        actions = actions
            .then(KeyAction::Down { value: c })
            .then(KeyAction::Up { value: c });
    }
    b.client.perform_actions(actions).await.expect("typing");
}

/// The page's CSV reader (the module itself, in the browser): quoted commas, doubled quotes and line breaks inside
/// quotes, and every way the network could cut the answer into chunks give the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_reader_gives_the_same_records_however_the_answer_is_cut() {
    let console = Console::open(GatewayOptions::default(), 0, &sample_readings()).await;
    let module = format!("/console/{}/csv.js", airq_gateway::routes::console::tag());
    let text =
        "id,sensor_type,country\n1,\"SDS, 011\",DE\n2,\"say \"\"hi\"\"\nthere\",'=1\r\n3,x,NL";
    let result = console
        .browser
        .client
        .execute_async(
            "const [url, text, done] = arguments; \
             import(url).then(({ CsvRecords }) => { \
               const parse = (pieces) => { const got = []; const r = new CsvRecords((c) => got.push(c)); \
                 pieces.forEach((p) => r.push(p)); r.finish(); return JSON.stringify(got); }; \
               const whole = parse([text]); const differing = []; \
               for (let a = 0; a <= text.length; a += 1) for (let b = a; b <= text.length; b += 1) { \
                 if (parse([text.slice(0, a), text.slice(a, b), text.slice(b)]) !== whole) differing.push([a, b]); } \
               done({ whole: JSON.parse(whole), differing: differing.length }); \
             }, (e) => done({ error: String(e) }));",
            vec![json!(module), json!(text)],
        )
        .await
        .expect("the module runs");
    assert_eq!(
        result,
        json!({
            "whole": [
                ["id", "sensor_type", "country"],
                ["1", "SDS, 011", "DE"],
                ["2", "say \"hi\"\nthere", "'=1"],
                ["3", "x", "NL"]
            ],
            "differing": 0
        })
    );
    console.stop().await;
}
