//! The web console in a real browser (issue 11): headless Chromium over WebDriver against the real gateway on
//! port 0 with the bundled sample (or 100,000 synthetic readings). Each test has its own gateway, chromedriver and
//! Chromium; see `driver` for how they are started.

mod driver;
mod large;
mod page;

use std::collections::HashSet;

use airq_common::Reading;
use airq_gateway::GatewayOptions;
use fantoccini::Locator;
use serde_json::{json, Value};

use crate::support::{start, System};
pub use driver::Browser;

/// The sample's readings are all in this hour.
pub const WINDOW: (&str, &str) = ("2019-04-16T14:00:00Z", "2019-04-16T15:00:00Z");

/// A system and a browser with its page open.
pub struct Console {
    pub sys: System,
    pub browser: Browser,
}

impl Console {
    pub async fn open(options: GatewayOptions, workers: usize, readings: &[Reading]) -> Console {
        Console::open_at(options, workers, readings, "/", (1280, 900)).await
    }

    /// Opens `path` (with its query string) in a `size` window once the page's script has run.
    pub async fn open_at(
        options: GatewayOptions,
        workers: usize,
        readings: &[Reading],
        path: &str,
        size: (u32, u32),
    ) -> Console {
        let sys = start(options, workers, readings).await;
        let browser = Browser::start(size.0, size.1).await;
        browser
            .client
            .goto(&sys.url(path))
            .await
            .expect("open the console");
        browser
            .until(
                "the console's script ran",
                "return document.getElementById('tz-note').textContent.includes('your clock');",
            )
            .await;
        Console { sys, browser }
    }

    /// Sets form fields by id (as a date picker or typing would) and clicks Submit.
    pub async fn submit(&self, fields: &[(&str, &str)]) {
        let values: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        self.browser
            .js(
                "for (const [id, value] of Object.entries(arguments[0])) { \
                   const e = document.getElementById(id); e.value = value; \
                   e.dispatchEvent(new Event('input', { bubbles: true })); }",
                vec![Value::Object(values)],
            )
            .await;
        self.browser
            .client
            .find(Locator::Id("submit"))
            .await
            .expect("Submit")
            .click()
            .await
            .expect("click Submit");
    }

    /// Waits for the answer to be complete; returns the row count the page shows.
    pub async fn answered(&self) -> u64 {
        self.browser
            .until(
                "the answer is shown",
                "return document.getElementById('answer').dataset.state === 'done';",
            )
            .await;
        let shown = self.browser.text("row-count").await.replace(',', "");
        shown.parse().expect("a row count")
    }

    pub async fn stop(self) {
        self.browser.close().await;
        self.sys.stop().await;
    }

    /// The API's own answer to `params` (directly, or through the queue when the gateway queues everything): its
    /// CSV rows (header first).
    pub async fn api_rows(&self, params: &str) -> Vec<Vec<String>> {
        let mut response = self
            .sys
            .client
            .get(self.sys.url(&format!("/api/query?{params}")))
            .send()
            .await
            .expect("query");
        if response.status() == 202 {
            let job: Value = response.json().await.expect("job");
            response = self.sys.result(job["id"].as_str().expect("id")).await;
        }
        assert_eq!(response.status(), 200, "{params}");
        let csv = response.text().await.expect("csv");
        // The sample has no quoted cells, so a plain split is the CSV.
        csv.lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    /// Errors in the browser's console: anything logged as SEVERE, except the status endpoint's 404 (the page
    /// asks for `/api/status` and hides its panel when the gateway has none; Chrome logs that 404 itself).
    pub async fn console_errors(&self) -> Vec<String> {
        let status_url = self.sys.url("/api/status");
        self.browser
            .log("browser")
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .filter(|m| !(m.starts_with(&status_url) && m.contains("404")))
            .collect()
    }

    /// Requests that went over the network to any host but the gateway. Chrome's own `chrome://` pages (the
    /// blank tab it starts with) and `data:` URLs (its date picker's icon) never leave the browser.
    pub async fn foreign_requests(&self) -> Vec<String> {
        let own = format!("{}/", self.sys.base);
        self.browser
            .requested_urls()
            .await
            .into_iter()
            .filter(|u| !u.starts_with("chrome://") && !u.starts_with("data:"))
            .filter(|u| !u.starts_with(&own))
            .collect()
    }
}

/// Distinct sensors with a position among CSV rows (header first).
pub fn placed_sensors(rows: &[Vec<String>]) -> usize {
    let header = &rows[0];
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (id, lat, lon) = (at("sensor_id"), at("latitude"), at("longitude"));
    rows[1..]
        .iter()
        .filter(|r| r[lat].parse::<f64>().is_ok() && r[lon].parse::<f64>().is_ok())
        .map(|r| r[id].clone())
        .collect::<HashSet<_>>()
        .len()
}
