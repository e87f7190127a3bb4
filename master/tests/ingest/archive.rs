//! Damaged archive files: what is stored, what is reported, and the exit status; and the bundled archive
//! folders, whose `--country` must be true of every file in them.

use crate::{args, data, ingest, temp_store};

const HEADER: &str =
    "sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n";

/// An archive row of sensor 15092 at 00:`minute`:17 on 2019-05-06.
fn row(minute: u32, pm10: &str) -> String {
    format!("15092;SDS011;7647;56.963;-2.211;2019-05-06T00:{minute:02}:17;{pm10};;;2.73;;\n")
}

/// A line far longer than any archive row (1 MiB) ends the file as damage at the line's offset; the rows before
/// it are stored and the run fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_line_is_damage_and_the_rows_before_it_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = format!("{HEADER}{}{}", row(1, "6.80"), row(2, "7.10"));
    let text = format!("{good}{}\n{}", "x".repeat(1 << 20), row(3, "8.00"));
    let path = dir.path().join("long.csv");
    std::fs::write(&path, &text).expect("write");
    let (_s, url) = temp_store();
    let (summary, complete) = ingest(&args(path.to_str().expect("utf8"), &url)).await;
    assert!(!complete, "{summary}");
    assert_eq!(summary.damage.len(), 1, "{summary}");
    assert_eq!(summary.damage[0].kind, "line_too_long");
    assert_eq!(summary.damage[0].offset, Some(good.len() as u64));
    assert_eq!(summary.readings_written, 2);
    let store = airq_common::open_store(&url).await.expect("store");
    assert_eq!(store.count().await.expect("count"), 2);
}

/// The finding of issue 10: a file cut in the middle of its last row's PM10 (12.73 cut to `1`) stored 1.0 and
/// exited 0. The binary must store only the whole rows, report the damage with the cut row's offset, and fail.
#[test]
fn the_binary_fails_on_an_archive_cut_mid_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("airq.db").display());
    let whole = format!("{HEADER}{}{}", row(1, "6.80"), row(2, "12.73"));
    let cut_at = whole.find("12.73").expect("the value") + 1;
    let path = dir.path().join("cut.csv");
    std::fs::write(&path, &whole[..cut_at]).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"))
        .args(["ingest", "--source", path.to_str().expect("utf8")])
        .args(["--store", &url, "--create", "--country", "gb", "--json"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a cut archive exits non-zero");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(summary["damage"][0]["kind"], "truncated", "{summary}");
    let first_rows = HEADER.len() + row(1, "6.80").len();
    assert_eq!(summary["damage"][0]["offset"], first_rows as u64);
    assert_eq!(summary["readings_written"], 1);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stored = runtime.block_on(async {
        let store = airq_common::open_store(&url).await.expect("store");
        let q = airq_common::Query::from_params([("start", "2019-05-06"), ("end", "2019-05-07")])
            .expect("query");
        airq_common::store::collect(store.query(&q, 10))
            .await
            .expect("query")
    });
    let pm10: Vec<Option<f64>> = stored.iter().map(|r| r.pm10).collect();
    assert_eq!(pm10, [Some(6.8)], "the cut row is not stored");
}

/// Serves `body` to every connection as a 200 whose Content-Length is 1000 bytes more than it sends, then
/// closes: a body cut short in transit. Raw TCP because a real HTTP server will not send a wrong length.
async fn short_body_server(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n",
                    body.len() + 1000
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/data")
}

/// An HTTP archive body shorter than its Content-Length is damage (exit status non-zero), as it is for a feed;
/// here the body ends on a row boundary, so only the length says that rows are missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_body_shorter_than_its_content_length_is_damage() {
    let body = format!("{HEADER}{}{}", row(1, "6.80"), row(2, "7.10"));
    let url = short_body_server(body.into_bytes()).await;
    let (_s, store_url) = temp_store();
    let mut a = args(&url, &store_url);
    a.format = Some(airq_master::source::Format::ArchiveCsv);
    let (summary, complete) = ingest(&a).await;
    assert!(!complete, "{summary}");
    assert_eq!(summary.damage.len(), 1, "{summary}");
    assert_eq!(summary.damage[0].kind, "read_error", "{summary}");
    assert_eq!(summary.readings_written, 2);

    // The feed reader reports the same cut the same way.
    let feed = std::fs::read(crate::sample()).expect("read");
    let url = short_body_server(feed).await;
    let (_s, store_url) = temp_store();
    let (summary, complete) = ingest(&args(&url, &store_url)).await;
    assert!(!complete, "{summary}");
    assert_eq!(summary.damage[0].kind, "read_error", "{summary}");
    assert_eq!(summary.readings_written, 140);
}

/// A country that is not two letters never reaches the store: the readings are written without it and the drop
/// is shown in the summary under its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_country_is_dropped_and_shown_in_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rows.csv");
    std::fs::write(
        &path,
        format!("{HEADER}{}{}", row(1, "6.80"), row(2, "7.10")),
    )
    .expect("write");
    let (_s, url) = temp_store();
    let mut a = args(path.to_str().expect("utf8"), &url);
    a.country = "=HYPERLINK(\"http://x\")".into();
    let (summary, complete) = ingest(&a).await;
    assert!(complete, "{summary}");
    assert_eq!(summary.readings_written, 2);
    assert_eq!(
        summary
            .dropped_values
            .get(&airq_common::SkipReason::InvalidCountry),
        Some(&2)
    );
    let text = summary.to_string();
    assert!(text.contains("invalid_country"), "{text}");
    let store = airq_common::open_store(&url).await.expect("store");
    let q = airq_common::Query::from_params([("start", "2019-05-06"), ("end", "2019-05-07")])
        .expect("query");
    let stored = airq_common::store::collect(store.query(&q, 10))
        .await
        .expect("query");
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|r| r.country.is_empty()), "{stored:?}");
}

/// `--format feed` on the bundled archive folder damages every file the same way: the summary says so in one
/// line with the count and the first files (it printed one `DAMAGED` line per file, 161 of them), and exits
/// non-zero; `--json` still lists every file.
#[test]
fn a_wrong_format_on_a_folder_is_one_line_of_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("airq.db").display());
    let folder = data("archive/aberdeen-2019-05");
    let files = std::fs::read_dir(&folder)
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "csv"))
        })
        .count();
    let run = |json: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"));
        command
            .args(["ingest", "--source", folder.to_str().expect("utf8")])
            .args(["--format", "feed", "--store", &url, "--create"]);
        if json {
            command.arg("--json");
        }
        command.output().expect("run")
    };
    let out = run(false);
    assert!(!out.status.success(), "damage exits non-zero");
    let text = String::from_utf8_lossy(&out.stdout);
    let damaged: Vec<&str> = text.lines().filter(|l| l.contains("DAMAGED")).collect();
    assert_eq!(damaged.len(), 1, "{text}");
    assert!(
        damaged[0].contains(&format!(" in {files} files: "))
            && damaged[0].contains(&format!("; {} more; --json lists every one)", files - 3)),
        "{}",
        damaged[0]
    );
    let out = run(true);
    assert!(!out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(
        summary["damage"].as_array().map(Vec::len),
        Some(files),
        "{summary}"
    );
}

/// Each bundled archive folder holds one country's sensors (the archive format has no country column, so the
/// README's `--country GB` on the Aberdeen folder labels every file in it): every row's coordinates lie in
/// that country's bounding box.
#[test]
fn each_bundled_archive_folder_is_one_country() {
    // (folder, country, latitude range, longitude range): generous boxes around Great Britain and Germany.
    let folders = [
        ("archive/aberdeen-2019-05", "GB", 49.8..=60.9, -8.7..=1.8),
        ("archive/stuttgart-2019-12", "DE", 47.2..=55.1, 5.8..=15.1),
    ];
    for (folder, country, lat, lon) in folders {
        let mut rows = 0;
        for entry in std::fs::read_dir(data(folder)).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|x| x != "csv") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                let fields: Vec<&str> = line.split(';').collect();
                let coordinate = |i: usize| -> f64 {
                    fields
                        .get(i)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| panic!("{}: no coordinate in {line:?}", path.display()))
                };
                let (la, lo) = (coordinate(3), coordinate(4));
                assert!(
                    lat.contains(&la) && lon.contains(&lo),
                    "{}: ({la}, {lo}) is not in {country}",
                    path.display()
                );
                rows += 1;
            }
        }
        assert!(rows > 0, "{folder} has no rows");
    }
}
