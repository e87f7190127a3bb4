//! The embedded result store: conformance, and its on-disk budget.

use std::sync::Arc;

use airq_common::protocol::now_ms;
use airq_common::results::answer::AnswerWriter;
use airq_common::results::sqlite::SqliteResults;
use airq_common::results::{GoneReason, JobStatus, NewJob, ResultOptions, ResultStore};
use airq_common::testing::result_conformance::{sample_csv, Handles, OPTIONS};
use uuid::Uuid;

/// Two handles on one fresh file, as two processes would open it.
async fn fresh_with(options: ResultOptions) -> Handles {
    let dir = crate::scratch::dir();
    let path = dir.join("airq.db");
    let path = path.to_str().expect("utf8");
    (
        Arc::new(SqliteResults::open(path, options).expect("open")),
        Arc::new(SqliteResults::open(path, options).expect("open")),
    )
}

async fn fresh() -> Handles {
    fresh_with(OPTIONS).await
}

airq_common::result_conformance_tests!(fresh());

async fn answered(store: &Arc<dyn ResultStore>, rows: usize, seed: u64) -> (Uuid, u64) {
    let now = now_ms();
    let job = NewJob {
        id: Uuid::new_v4(),
        submitted_ms: now,
        deadline_ms: now + 60_000,
        ttl: std::time::Duration::from_secs(600),
        owner: None,
        format: Default::default(),
    };
    store.create(&job).await.expect("create");
    let mut writer = AnswerWriter::new(store.clone(), job.id);
    writer.write(&sample_csv(rows, seed)).await.expect("write");
    assert!(writer.finish().await.expect("finish"));
    let JobStatus::Done(answer) = store.status(job.id).await.expect("status") else {
        panic!("done")
    };
    (job.id, answer.stored_bytes)
}

/// Beyond the budget, answers already fetched are evicted first (oldest first); an answer nobody has fetched
/// is evicted only when there is no other way to stay within the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_spares_unfetched_answers_while_it_can() {
    // Every answer below is about the same size; the budget holds three and a half of them.
    let (probe, _) = fresh_with(OPTIONS).await;
    let (_, size) = answered(&probe, 1500, 0).await;
    let budget = size * 7 / 2;
    let (store, _) = fresh_with(ResultOptions {
        budget,
        part_bytes: 1024,
    })
    .await;
    let (old_unfetched, _) = answered(&store, 1500, 1).await;
    let (fetched, _) = answered(&store, 1500, 2).await;
    store.fetched(fetched).await.expect("fetched");
    let (third, _) = answered(&store, 1500, 3).await;
    // A fourth answer passes the budget: the fetched one goes, though it is newer than the first.
    let (fourth, _) = answered(&store, 1500, 4).await;
    assert_eq!(
        store.status(fetched).await.expect("status"),
        JobStatus::Gone(GoneReason::Evicted)
    );
    for id in [old_unfetched, third, fourth] {
        assert!(matches!(
            store.status(id).await.expect("status"),
            JobStatus::Done(_)
        ));
    }
    // A fifth: nothing fetched is left, so the oldest unfetched answer goes.
    let (fifth, _) = answered(&store, 1500, 5).await;
    assert_eq!(
        store.status(old_unfetched).await.expect("status"),
        JobStatus::Gone(GoneReason::Evicted)
    );
    for id in [third, fourth, fifth] {
        assert!(matches!(
            store.status(id).await.expect("status"),
            JobStatus::Done(_)
        ));
    }
    let usage = store.usage().await.expect("usage");
    assert!(usage.stored_bytes <= budget, "{usage:?}");
}
