//! The `ResultStore` conformance suite: the same cases for every result backend.
//!
//! A backend's test file invokes [`result_conformance_tests!`](crate::result_conformance_tests) with an async
//! expression yielding two handles on one fresh, empty store (as two gateways or a gateway and a worker would
//! open it), with a part size of 1 KiB and a budget of 1 MiB, so that small test answers span many parts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use uuid::Uuid;

use crate::protocol::{now_ms, FailReason};
use crate::results::answer::{csv_stream, gzip_stream, AnswerWriter};
use crate::results::{
    Failure, GoneReason, JobStatus, NewJob, Outcome, ResultError, ResultOptions, ResultStore,
};

/// The options every backend's suite opens its store with.
pub const OPTIONS: ResultOptions = ResultOptions {
    budget: 1 << 20,
    part_bytes: 1024,
};

pub type Handles = (Arc<dyn ResultStore>, Arc<dyn ResultStore>);

fn job(deadline: Duration, ttl: Duration) -> NewJob {
    let now = now_ms();
    NewJob {
        id: Uuid::new_v4(),
        submitted_ms: now,
        deadline_ms: now + i64::try_from(deadline.as_millis()).unwrap_or(i64::MAX),
        ttl,
        owner: None,
        format: Default::default(),
    }
}

fn pending_job() -> NewJob {
    job(Duration::from_secs(300), Duration::from_secs(600))
}

/// CSV-like bytes that do not compress to nothing, so that an answer spans many 1 KiB parts.
pub fn sample_csv(rows: usize, seed: u64) -> Vec<u8> {
    let mut out = b"id,value\n".to_vec();
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(format!("{i},{x}\n").as_bytes());
    }
    out
}

async fn write_answer(
    store: &Arc<dyn ResultStore>,
    id: Uuid,
    csv: &[u8],
) -> Result<bool, ResultError> {
    let mut writer = AnswerWriter::new(store.clone(), id);
    for chunk in csv.chunks(700) {
        writer.write(chunk).await?;
    }
    writer.finish().await
}

async fn read_answer(store: &Arc<dyn ResultStore>, id: Uuid) -> Vec<u8> {
    let JobStatus::Done(answer) = store.status(id).await.expect("status") else {
        panic!("job {id} is not done")
    };
    let chunks: Vec<Bytes> = csv_stream(store.clone(), id, answer)
        .try_collect()
        .await
        .expect("read the answer");
    chunks.concat()
}

/// A job's format (issue 12) is the answer's on every handle, so any gateway serves it with its media type;
/// a job created without one is CSV.
pub async fn formats_are_kept((a, b): Handles) {
    use crate::answer::Format;
    for format in Format::ALL {
        let job = NewJob {
            format,
            ..pending_job()
        };
        a.create(&job).await.expect("create");
        b.start(job.id).await.expect("start");
        assert!(write_answer(&b, job.id, &sample_csv(10, 4))
            .await
            .expect("write"));
        match a.status(job.id).await.expect("status") {
            JobStatus::Done(answer) => assert_eq!(answer.format, format),
            other => panic!("{format:?}: {other:?}"),
        }
    }
}

/// A job's owner reads back from every handle, through its whole life; a job without one, and an unknown id,
/// have none.
pub async fn owners_are_kept((a, b): Handles) {
    let owned = NewJob {
        owner: Some("alice@example.org".into()),
        ..pending_job()
    };
    let anonymous = pending_job();
    a.create(&owned).await.expect("create");
    a.create(&anonymous).await.expect("create");
    assert_eq!(
        b.owner(owned.id).await.expect("owner").as_deref(),
        Some("alice@example.org")
    );
    assert_eq!(b.owner(anonymous.id).await.expect("owner"), None);
    assert_eq!(b.owner(Uuid::new_v4()).await.expect("owner"), None);
    b.start(owned.id).await.expect("start");
    assert!(write_answer(&b, owned.id, &sample_csv(10, 3))
        .await
        .expect("write"));
    assert_eq!(
        a.owner(owned.id).await.expect("owner").as_deref(),
        Some("alice@example.org")
    );
    assert!(a.cancel(owned.id).await.expect("cancel"));
    assert_eq!(
        b.owner(owned.id).await.expect("owner").as_deref(),
        Some("alice@example.org"),
        "a gone id keeps its owner, so only the owner learns that it is gone"
    );
}

/// Workers seen from one handle are listed by every other, newest first; a member seen again moves up; the
/// record does not disturb sweeping or usage (on DynamoDB it shares the jobs' table).
pub async fn members_are_seen_from_every_handle((a, b): Handles) {
    let before = now_ms() - 1;
    a.seen("worker-1").await.expect("seen");
    b.seen("worker-2").await.expect("seen");
    let listed = b.members(before).await.expect("members");
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"worker-1") && names.contains(&"worker-2"),
        "{listed:?}"
    );
    assert!(listed.iter().all(|(_, at)| *at >= before));
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.seen("worker-1").await.expect("seen again");
    let listed = a.members(before).await.expect("members");
    assert_eq!(listed.first().map(|(n, _)| n.as_str()), Some("worker-1"));
    assert_eq!(listed.len(), 2, "a member seen twice is listed once");
    assert!(a
        .members(now_ms() + 60_000)
        .await
        .expect("members")
        .is_empty());
    a.sweep().await.expect("a sweep beside the members");
    a.usage().await.expect("usage beside the members");
}

/// Queued → running → done; the answer reads back byte for byte from another handle, decompressed or as the
/// gzip stream, and stays fetchable.
pub async fn lifecycle_across_handles((a, b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    assert_eq!(b.status(job.id).await.expect("status"), JobStatus::Queued);
    assert_eq!(b.start(job.id).await.expect("start"), JobStatus::Running);
    assert_eq!(a.status(job.id).await.expect("status"), JobStatus::Running);
    let csv = sample_csv(3000, 1);
    assert!(write_answer(&b, job.id, &csv).await.expect("write"));
    let JobStatus::Done(answer) = a.status(job.id).await.expect("status") else {
        panic!("not done")
    };
    assert!(answer.parts > 5, "spans several parts: {answer:?}");
    assert_eq!(answer.csv_bytes, csv.len() as u64);
    for _ in 0..2 {
        assert_eq!(read_answer(&a, job.id).await, csv);
    }
    let gz: Vec<Bytes> = gzip_stream(a.clone(), job.id, answer)
        .try_collect()
        .await
        .expect("gzip parts");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gz.concat()[..]),
        &mut plain,
    )
    .expect("one gzip stream");
    assert_eq!(plain, csv);
    a.fetched(job.id).await.expect("fetched");
    assert_eq!(read_answer(&b, job.id).await, csv);
    let usage = a.usage().await.expect("usage");
    assert!(usage.answers >= 1 && usage.stored_bytes > 0, "{usage:?}");
}

/// Small and empty answers work too (a backend may keep them in the record).
pub async fn small_and_empty_answers((a, b): Handles) {
    for csv in [Vec::new(), b"id,value\n1,2\n".to_vec()] {
        let job = pending_job();
        a.create(&job).await.expect("create");
        assert!(write_answer(&b, job.id, &csv).await.expect("write"));
        assert_eq!(read_answer(&a, job.id).await, csv);
    }
}

/// An id is created once; ids never issued are unknown, and nothing can be done to them.
pub async fn ids_are_created_once((a, b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    assert!(matches!(b.create(&job).await, Err(ResultError::Exists(id)) if id == job.id));
    let stranger = Uuid::new_v4();
    assert_eq!(
        a.status(stranger).await.expect("status"),
        JobStatus::Unknown
    );
    assert_eq!(a.start(stranger).await.expect("start"), JobStatus::Unknown);
    assert!(!write_answer(&a, stranger, b"x\n").await.expect("finish"));
    assert!(!a.cancel(stranger).await.expect("cancel"));
    assert_eq!(
        a.status(stranger).await.expect("status"),
        JobStatus::Unknown
    );
}

/// The first finish wins; a duplicate delivery's answer changes nothing, and its parts are not kept.
pub async fn the_first_finish_wins((a, b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    let first = sample_csv(2000, 2);
    let second = sample_csv(2500, 3);
    // Both attempts stream at once; the first to finish is the answer.
    let mut one = AnswerWriter::new(a.clone(), job.id);
    let mut two = AnswerWriter::new(b.clone(), job.id);
    one.write(&first).await.expect("write");
    two.write(&second).await.expect("write");
    let loser = two.attempt();
    assert!(one.finish().await.expect("finish"));
    assert!(!two.finish().await.expect("finish"));
    assert_eq!(read_answer(&b, job.id).await, first);
    a.sweep().await.expect("sweep");
    assert!(matches!(
        a.read_part(job.id, loser, 0).await,
        Err(ResultError::MissingPart { .. })
    ));
    assert_eq!(read_answer(&a, job.id).await, first);
}

/// A worker that dies mid-stream leaves parts of an attempt that never finishes: the next attempt's answer is
/// the one served, whole and correct, and a sweep removes the dead attempt's parts.
pub async fn an_abandoned_attempt_is_invisible((a, b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    b.start(job.id).await.expect("start");
    let mut dead = AnswerWriter::new(b.clone(), job.id);
    dead.write(&sample_csv(8000, 4)).await.expect("write");
    let dead_attempt = dead.attempt();
    drop(dead);
    assert!(
        a.read_part(job.id, dead_attempt, 0).await.is_ok(),
        "parts were stored"
    );
    assert_eq!(a.status(job.id).await.expect("status"), JobStatus::Running);
    let csv = sample_csv(1500, 5);
    assert!(write_answer(&a, job.id, &csv).await.expect("write"));
    assert_eq!(read_answer(&b, job.id).await, csv);
    b.sweep().await.expect("sweep");
    assert!(matches!(
        a.read_part(job.id, dead_attempt, 0).await,
        Err(ResultError::MissingPart { .. })
    ));
    assert_eq!(read_answer(&b, job.id).await, csv);
}

/// A failure is recorded with its reason and field, and reads the same everywhere.
pub async fn failures_keep_their_reason((a, b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    let failure = Failure {
        reason: FailReason::InvalidQuery,
        message: "must not be before start".into(),
        field: Some("end".into()),
    };
    assert!(b
        .finish(job.id, Outcome::Failed(failure.clone()))
        .await
        .expect("finish"));
    assert_eq!(
        a.status(job.id).await.expect("status"),
        JobStatus::Failed(failure)
    );
    assert!(!write_answer(&b, job.id, b"late\n").await.expect("finish"));
}

/// Past its deadline a pending job reads as timed out on every handle, before and after a sweep, and a late
/// answer is refused; past its deadline plus its TTL it is gone.
pub async fn deadlines_apply_without_a_sweep((a, b): Handles) {
    let late = NewJob {
        deadline_ms: now_ms() - 1,
        ..pending_job()
    };
    a.create(&late).await.expect("create");
    let timed_out = |s: JobStatus| {
        matches!(
            s,
            JobStatus::Failed(Failure {
                reason: FailReason::Timeout,
                ..
            })
        )
    };
    assert!(timed_out(b.status(late.id).await.expect("status")));
    assert!(!b.start(late.id).await.expect("start").is_pending());
    assert!(!write_answer(&b, late.id, b"late\n").await.expect("finish"));
    let report = a.sweep().await.expect("sweep");
    assert!(report.timed_out >= 1, "{report:?}");
    assert!(timed_out(b.status(late.id).await.expect("status")));

    let long_ago = NewJob {
        deadline_ms: now_ms() - 10_000,
        ttl: Duration::from_secs(1),
        ..pending_job()
    };
    a.create(&long_ago).await.expect("create");
    assert_eq!(
        b.status(long_ago.id).await.expect("status"),
        JobStatus::Gone(GoneReason::Expired)
    );
}

/// A finished answer past its TTL is gone on every handle at once, and a sweep frees its parts.
pub async fn answers_expire((a, b): Handles) {
    let job = job(Duration::from_secs(300), Duration::ZERO);
    a.create(&job).await.expect("create");
    assert!(write_answer(&b, job.id, &sample_csv(8000, 6))
        .await
        .expect("write"));
    assert_eq!(
        a.status(job.id).await.expect("status"),
        JobStatus::Gone(GoneReason::Expired)
    );
    let report = b.sweep().await.expect("sweep");
    assert!(
        report.expired >= 1 && report.parts_removed >= 1,
        "{report:?}"
    );
    assert_eq!(
        a.status(job.id).await.expect("status"),
        JobStatus::Gone(GoneReason::Expired)
    );
}

/// A cancelled job is gone: no worker can answer it afterwards, and its parts are removed.
pub async fn cancelled_jobs_are_gone((a, b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    assert!(b.cancel(job.id).await.expect("cancel"));
    assert_eq!(
        a.status(job.id).await.expect("status"),
        JobStatus::Gone(GoneReason::Cancelled)
    );
    assert!(!a.start(job.id).await.expect("start").is_pending());
    assert!(!write_answer(&a, job.id, b"x\n").await.expect("finish"));
    assert!(a.cancel(job.id).await.expect("cancel again is harmless"));

    let done = pending_job();
    a.create(&done).await.expect("create");
    assert!(write_answer(&a, done.id, &sample_csv(500, 7))
        .await
        .expect("write"));
    assert!(b.cancel(done.id).await.expect("cancel"));
    assert_eq!(
        a.status(done.id).await.expect("status"),
        JobStatus::Gone(GoneReason::Cancelled)
    );
}

/// An answer over the store's limit for one answer is refused while it is being written.
pub async fn an_answer_over_the_limit_is_refused((a, _b): Handles) {
    let job = pending_job();
    a.create(&job).await.expect("create");
    let mut writer = AnswerWriter::new(a.clone(), job.id);
    let mut refused = false;
    // Incompressible enough: 40 bytes a row, about 20 compressed; 100,000 rows pass a 1 MiB limit.
    for i in 0..200u64 {
        if let Err(e) = writer.write(&sample_csv(500, 100 + i)).await {
            assert!(matches!(e, ResultError::TooLarge { .. }), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "a limit of 1 MiB was never reached");
    assert!(a.status(job.id).await.expect("status").is_pending());
}

/// Generates one `#[tokio::test]` per result store conformance case.
#[macro_export]
macro_rules! result_conformance_tests {
    ($make:expr) => {
        $crate::result_conformance_tests!(@cases $make;
            lifecycle_across_handles, small_and_empty_answers, ids_are_created_once, the_first_finish_wins,
            an_abandoned_attempt_is_invisible, failures_keep_their_reason, deadlines_apply_without_a_sweep,
            answers_expire, cancelled_jobs_are_gone, an_answer_over_the_limit_is_refused, owners_are_kept,
            members_are_seen_from_every_handle, formats_are_kept);
    };
    (@cases $make:expr; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let handles: $crate::testing::result_conformance::Handles = $make.await;
                $crate::testing::result_conformance::$case(handles).await;
            }
        )+
    };
}
