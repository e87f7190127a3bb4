//! A 100,000-row answer in the console: the page counts it all and draws the charts, and the table stays a
//! screenful of DOM rows wherever it is scrolled (what keeps the page responsive). The time a scroll's render
//! took, measured in the page, is printed for the record, not asserted (timing belongs in benchmarks).

use airq_common::feed::FeedReader;
use airq_common::synth::{feed_bytes, SynthConfig};
use airq_common::Reading;
use airq_gateway::GatewayOptions;
use serde_json::json;

use super::Console;

/// Synthetic readings over 2019-04-16 from the one generator: 1,600 sensors every 5 minutes for 10 hours give
/// about 105,000 PM readings.
fn hundred_thousand() -> Vec<Reading> {
    let config = SynthConfig {
        sensors: 1600,
        hours: 10,
        interval_secs: 300,
        seed: 11,
        ..SynthConfig::default()
    };
    let feed = feed_bytes(&config);
    let readings: Vec<Reading> = FeedReader::new(feed.as_slice()).collect();
    assert!(readings.len() >= 100_000, "{} readings", readings.len());
    readings
}

/// DOM rows of the table (spacers aside) and the first and last row index shown.
const TABLE_STATE: &str =
    "const rows = [...document.querySelectorAll('#table tbody tr:not(.spacer)')]; \
     return [rows.length, Number(rows[0]?.getAttribute('aria-rowindex')), \
             Number(rows[rows.length - 1]?.getAttribute('aria-rowindex'))];";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_answer_keeps_the_table_to_a_screenful_of_rows() {
    let readings = hundred_thousand();
    let total = readings.len() as u64;
    let console = Console::open(GatewayOptions::default(), 0, &readings).await;
    let b = &console.browser;
    console
        .submit(&[("start", "2019-04-16T00:00"), ("end", "2019-04-17T00:00")])
        .await;
    let shown = console.answered().await;
    assert_eq!(shown, total, "every row is counted");
    let rowcount = b
        .js(
            "return document.querySelector('#table table').getAttribute('aria-rowcount');",
            vec![],
        )
        .await;
    assert_eq!(rowcount, json!((total + 1).to_string()));
    let markers = b
        .js(
            "return document.querySelectorAll('#map-chart svg .point').length;",
            vec![],
        )
        .await;
    assert!(
        markers.as_u64().unwrap_or(0) > 500,
        "sensor markers: {markers}"
    );

    // Wherever the table is scrolled, the rows in view are rendered and only about a screenful exists.
    for fraction in [0.0, 0.5, 1.0] {
        let target = b
            .js(
                "const box = document.getElementById('table'); \
                 const top = Math.round((box.scrollHeight - box.clientHeight) * arguments[0]); \
                 box.scrollTop = top; return box.scrollTop;",
                vec![json!(fraction)],
            )
            .await;
        let expected_row = b
            .until(
                "the rows in view are rendered",
                "const box = document.getElementById('table'); \
                 const first = Number(box.dataset.first), last = Number(box.dataset.last); \
                 const h = document.querySelector('#table tbody tr:not(.spacer)').getBoundingClientRect().height; \
                 const inView = Math.floor(box.scrollTop / h); \
                 return first <= inView && inView < last ? inView + 1 : 0;",
            )
            .await;
        let state = b.js(TABLE_STATE, vec![]).await;
        let dom_rows = state[0].as_u64().expect("count");
        assert!(
            (1..=100).contains(&dom_rows),
            "at {fraction}: {dom_rows} rows in the DOM"
        );
        let (first, last) = (
            state[1].as_u64().expect("first"),
            state[2].as_u64().expect("last"),
        );
        let expected = expected_row.as_u64().expect("row");
        assert!(
            first <= expected + 1 && expected < last,
            "at {fraction} (scrollTop {target}): rows {first}..{last} shown, row {expected} in view"
        );
        if fraction == 1.0 {
            assert_eq!(last, total + 1, "the last row is reachable");
        }
        let render_ms = b
            .js(
                "return document.getElementById('table').dataset.renderMs;",
                vec![],
            )
            .await;
        println!("table render at {fraction} of {total} rows: {render_ms} ms");
    }
    console.stop().await;
}
