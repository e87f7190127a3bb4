//! A real headless Chromium, driven over WebDriver (fantoccini) through its chromedriver, one of each per test.
//!
//! chromedriver listens on a free loopback port; Chromium runs headless with a fresh profile and with its
//! background networking off (without those flags it calls Google's hosts on its own). Both come from Debian's
//! packages, installed by `scripts/browser-setup` (which `scripts/test` runs): a missing browser fails the test
//! with that hint, it is never skipped. The browser's console log and its network log (Chrome's performance log)
//! are read back, so a test can assert that the page logged no error and fetched nothing from elsewhere.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The longest any page condition is waited for.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}

/// chromedriver's own `/status` says it is ready.
async fn driver_ready(url: &str) -> bool {
    let Ok(response) = reqwest::get(format!("{url}/status")).await else {
        return false;
    };
    let Ok(body) = response.json::<Value>().await else {
        return false;
    };
    body["value"]["ready"] == json!(true)
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a `width`×`height` window.
    pub async fn start(width: u32, height: u32) -> Browser {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: run scripts/browser-setup (scripts/test does) to install Debian's \
                 chromium and chromium-driver"
            );
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        // Its own process group, so that dropping the browser ends chromedriver and every Chromium process.
        // TMPDIR is the profile's folder: Chromium's scoped temporary folders are not removed when it is
        // killed, and inside the profile they go with it.
        let driver = Command::new(CHROMEDRIVER)
            .env("TMPDIR", profile.path())
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !driver_ready(&url).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver not ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile_arg = format!("--user-data-dir={}", profile.path().display());
        let window = format!("--window-size={width},{height}");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=en-GB",
            profile_arg.as_str(),
            window.as_str(),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        capabilities.insert(
            "goog:loggingPrefs".into(),
            json!({ "browser": "ALL", "performance": "ALL" }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        let mut browser = Browser {
            client,
            driver,
            _profile: profile,
        };
        browser.driver_alive();
        browser
    }

    fn driver_alive(&mut self) {
        if let Ok(Some(status)) = self.driver.try_wait() {
            panic!("chromedriver exited: {status}");
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` (returning a truthy value when the condition holds) until it does, within [`PATIENCE`].
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let value = self.js(script, vec![]).await;
            let holds = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if holds {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                let state = self
                    .js(
                        "return document.getElementById('answer')?.dataset.state + ' / ' + \
                         document.getElementById('summary')?.textContent + ' / ' + \
                         document.getElementById('answer-error')?.textContent;",
                        vec![],
                    )
                    .await;
                panic!("{what}: not within {PATIENCE:?} (page: {state})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Text of the element with this id.
    pub async fn text(&self, id: &str) -> String {
        let value = self
            .js(
                "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
                vec![json!(id)],
            )
            .await;
        value
            .as_str()
            .unwrap_or_else(|| panic!("no element #{id}"))
            .to_string()
    }

    /// Entries of one of Chrome's logs (`browser` for the console, `performance` for the network), drained.
    pub async fn log(&self, kind: &str) -> Vec<Value> {
        let value = self
            .client
            .issue_cmd(GetLog(kind.to_string()))
            .await
            .unwrap_or_else(|e| panic!("reading the {kind} log: {e}"));
        value.as_array().cloned().unwrap_or_default()
    }

    /// Every URL the page requested, from the network log.
    pub async fn requested_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for entry in self.log("performance").await {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            if message["message"]["method"] == "Network.requestWillBeSent" {
                if let Some(url) = message["message"]["params"]["request"]["url"].as_str() {
                    urls.push(url.to_string());
                }
            }
        }
        urls
    }

    pub async fn close(mut self) {
        self.driver_alive();
        let client = self.client.clone();
        client.close().await.expect("end the session");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started, even when a test failed mid-way. Sent with
        // killpg(2), not the kill(1) command: procps' kill reads `-KILL -<pgid>` without `--` as every process.
        match i32::try_from(self.driver.id()) {
            Ok(pgid) if pgid > 1 => {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            _ => {
                let _ = self.driver.kill();
            }
        }
        let _ = self.driver.wait();
    }
}

/// chromedriver's log endpoint (not in the W3C protocol, so not in fantoccini).
#[derive(Debug)]
struct GetLog(String);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}
