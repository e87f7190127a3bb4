//! The `JobQueue` conformance suite: the same cases for every queue backend.
//!
//! A backend's test file invokes [`queue_conformance_tests!`](crate::queue_conformance_tests) with an async
//! expression yielding `(Arc<dyn QueueService>, String)`: a service and a queue name not used by any other test.

use std::sync::Arc;
use std::time::Duration;

use crate::queue::{JobQueue, Message, QueueError, QueueOptions, QueueService};

const SHORT: Duration = Duration::from_secs(1);
const LONG_WAIT: Duration = Duration::from_secs(10);

fn options(max_receives: u32) -> QueueOptions {
    QueueOptions { max_receives }
}

/// Receives until `n` messages have arrived or `LONG_WAIT` passes (SQS may return fewer than are there).
async fn receive_n(queue: &Arc<dyn JobQueue>, n: usize, visibility: Duration) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + LONG_WAIT;
    let mut got = Vec::new();
    while got.len() < n && tokio::time::Instant::now() < deadline {
        got.extend(
            queue
                .receive(10, Duration::from_secs(1), visibility)
                .await
                .expect("receive"),
        );
    }
    got
}

fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Sent messages are received once each, and deleted ones are gone.
pub async fn send_receive_delete(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    queue.send(&bodies("m", 3)).await.expect("send");
    let got = receive_n(&queue, 3, Duration::from_secs(30)).await;
    let mut seen: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    seen.sort();
    assert_eq!(seen, bodies("m", 3));
    assert!(got.iter().all(|m| m.receive_count == 1));
    let receipts: Vec<_> = got.iter().map(|m| m.receipt.clone()).collect();
    queue.delete(&receipts).await.expect("delete");
    queue
        .delete(&receipts)
        .await
        .expect("delete twice is harmless");
    let depth = queue.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    assert!(queue
        .receive(10, Duration::ZERO, SHORT)
        .await
        .expect("receive")
        .is_empty());
}

/// A message not deleted within its visibility timeout is delivered again, with a higher receive count.
pub async fn redelivery_after_visibility_timeout(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    queue.send(&["job".to_string()]).await.expect("send");
    let first = receive_n(&queue, 1, SHORT).await;
    assert_eq!(first.len(), 1);
    // Hidden now: an immediate receive gets nothing.
    assert!(queue
        .receive(10, Duration::ZERO, SHORT)
        .await
        .expect("receive")
        .is_empty());
    let again = receive_n(&queue, 1, SHORT).await;
    assert_eq!(again.len(), 1, "redelivered");
    assert_eq!(again[0].body, "job");
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first[0].receipt);
}

/// After `max_receives` deliveries without a delete, the message goes to the dead-letter queue.
pub async fn dead_letter_after_max_receives(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(2)).await.expect("create");
    queue.send(&["poison".to_string()]).await.expect("send");
    for attempt in 1..=2 {
        let got = receive_n(&queue, 1, SHORT).await;
        assert_eq!(got.len(), 1, "delivery {attempt}");
        assert_eq!(got[0].receive_count, attempt);
    }
    // Past its visibility, the message is due again, but it has used its receives.
    tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
    let third = queue
        .receive(10, Duration::from_secs(2), SHORT)
        .await
        .expect("receive");
    assert!(third.is_empty(), "delivered a third time: {third:?}");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(depth.dead_lettered, Some(1));
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

/// A long poll returns as soon as a message arrives, not when its wait ends.
pub async fn long_poll_wakes_on_send(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    let receiver = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let got = queue.receive(1, LONG_WAIT, SHORT).await.expect("receive");
            (got, started.elapsed())
        })
    };
    queue.send(&["wake".to_string()]).await.expect("send");
    let (got, waited) = receiver.await.expect("join");
    assert_eq!(got.len(), 1);
    assert!(
        waited < LONG_WAIT,
        "returned only when the wait ended ({waited:?})"
    );
}

/// A receive told to stop returns without taking anything; the message stays for the next receiver.
pub async fn a_stopped_receive_takes_nothing(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    let stop = crate::queue::CancellationToken::new();
    // Stopped while waiting on an empty queue: it returns, within one long poll at most.
    let waiting = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let got = queue.receive_until(1, LONG_WAIT, SHORT, &stop).await;
            (got, started.elapsed())
        })
    };
    // Let it start waiting, then stop it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let (got, waited) = waiting.await.expect("join");
    assert!(got.expect("receive").is_empty());
    // The contract allows one long poll in flight to finish (SQS); nothing more.
    assert!(waited <= LONG_WAIT + SHORT, "waited {waited:?}");
    // Already stopped: a message that is there is left for others.
    queue.send(&["kept".to_string()]).await.expect("send");
    let got = queue
        .receive_until(1, LONG_WAIT, SHORT, &stop)
        .await
        .expect("receive");
    assert!(got.is_empty(), "a stopped receive took {got:?}");
    let got = receive_n(&queue, 1, SHORT).await;
    assert_eq!(got[0].body, "kept");
    assert_eq!(got[0].receive_count, 1, "it was never taken before");
}

/// A consumer that dies holding a message loses nothing: another consumer gets it after the timeout.
pub async fn nothing_lost_when_a_consumer_dies(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    queue.send(&["survivor".to_string()]).await.expect("send");
    {
        let dying = service.open(&name).await.expect("open");
        assert_eq!(receive_n(&dying, 1, SHORT).await.len(), 1);
        // Dropped here without a delete, as a killed process would.
    }
    let other = service.open(&name).await.expect("open");
    let got = receive_n(&other, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "survivor");
    other
        .delete(&[got[0].receipt.clone()])
        .await
        .expect("delete");
}

/// Extending the visibility keeps a message hidden past its first timeout.
pub async fn extend_keeps_a_message_hidden(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    queue.send(&["long job".to_string()]).await.expect("send");
    let got = receive_n(&queue, 1, SHORT).await;
    assert_eq!(got.len(), 1);
    queue
        .extend(&got[0].receipt, Duration::from_secs(30))
        .await
        .expect("extend");
    let during = queue
        .receive(10, Duration::from_secs(2), SHORT)
        .await
        .expect("receive");
    assert!(during.is_empty(), "delivered while extended: {during:?}");
    let depth = queue.depth().await.expect("depth");
    assert_eq!(depth.in_flight, 1);
}

/// Many messages in one call (more than SQS's batch of 10) all arrive.
pub async fn large_send_batches(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    queue.send(&bodies("b", 27)).await.expect("send");
    let got = receive_n(&queue, 27, Duration::from_secs(30)).await;
    let mut seen: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    seen.sort();
    let mut want = bodies("b", 27);
    want.sort();
    assert_eq!(seen, want);
}

/// A body over the limit is refused before anything of its batch is sent.
pub async fn too_large_is_refused_whole(service: Arc<dyn QueueService>, name: String) {
    let queue = service.create(&name, &options(5)).await.expect("create");
    let limit = queue.max_message_bytes();
    let batch = vec!["small".to_string(), "x".repeat(limit + 1)];
    let err = queue.send(&batch).await.expect_err("too large");
    assert!(matches!(err, QueueError::TooLarge { .. }), "{err}");
    queue
        .send(&["x".repeat(limit)])
        .await
        .expect("exactly the limit");
    let got = receive_n(&queue, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.len(), limit);
    assert!(queue
        .receive(10, Duration::from_secs(1), SHORT)
        .await
        .expect("receive")
        .is_empty());
}

/// Queues are separate, and a removed queue is gone.
pub async fn queues_are_isolated_and_removable(service: Arc<dyn QueueService>, name: String) {
    let a = service
        .create(&format!("{name}-a"), &options(5))
        .await
        .expect("create a");
    let b = service
        .create(&format!("{name}-b"), &options(5))
        .await
        .expect("create b");
    a.send(&["for a".to_string()]).await.expect("send");
    assert!(b
        .receive(10, Duration::from_secs(1), SHORT)
        .await
        .expect("receive")
        .is_empty());
    service.remove(&format!("{name}-a")).await.expect("remove");
    service
        .remove(&format!("{name}-a"))
        .await
        .expect("remove twice");
    let err = service
        .open(&format!("{name}-a"))
        .await
        .err()
        .expect("gone");
    assert!(matches!(err, QueueError::NoSuchQueue(_)), "{err}");
    service
        .create(&format!("{name}-b"), &options(5))
        .await
        .expect("create is idempotent");
}

/// Queues carry a heartbeat from creation; `remove_orphans` removes exactly those under its prefix whose
/// heartbeat is older than the limit, and leaves the others (and every queue outside the prefix) alone.
pub async fn orphans_are_found_by_their_heartbeat(service: Arc<dyn QueueService>, name: String) {
    let prefix = format!("{name}-reply");
    let (alive, dead) = (format!("{prefix}-alive"), format!("{prefix}-dead"));
    let outside = format!("{name}-other");
    for q in [&alive, &dead, &outside] {
        service.create(q, &options(0)).await.expect("create");
    }
    let listed = service.list(&format!("{prefix}-")).await.expect("list");
    let names: Vec<&str> = listed.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, [alive.as_str(), dead.as_str()]);
    let now = crate::protocol::now_ms();
    assert!(
        listed
            .iter()
            .all(|q| q.heartbeat_ms.is_some_and(|t| (now - t).abs() < 60_000)),
        "created queues carry a fresh heartbeat: {listed:?}"
    );
    let stale_after = Duration::from_millis(1500);
    // Time passes for both; only one owner beats. (Waiting here is the point: staleness is about time.)
    tokio::time::sleep(Duration::from_millis(2000)).await;
    service.heartbeat(&alive).await.expect("heartbeat");
    let removed =
        crate::queue::remove_orphans(service.as_ref(), &format!("{prefix}-"), stale_after)
            .await
            .expect("sweep");
    assert_eq!(removed, std::slice::from_ref(&dead));
    assert!(matches!(
        service.open(&dead).await,
        Err(QueueError::NoSuchQueue(_))
    ));
    service.open(&alive).await.expect("the live one stays");
    service
        .open(&outside)
        .await
        .expect("outside the prefix stays");
    assert!(matches!(
        service.heartbeat(&dead).await,
        Err(QueueError::NoSuchQueue(_))
    ));
}

/// Generates one `#[tokio::test]` per queue conformance case.
#[macro_export]
macro_rules! queue_conformance_tests {
    ($make:expr) => {
        $crate::queue_conformance_tests!(@cases $make;
            send_receive_delete, redelivery_after_visibility_timeout, dead_letter_after_max_receives,
            long_poll_wakes_on_send, a_stopped_receive_takes_nothing, nothing_lost_when_a_consumer_dies,
            extend_keeps_a_message_hidden, large_send_batches, too_large_is_refused_whole, queues_are_isolated_and_removable,
            orphans_are_found_by_their_heartbeat);
    };
    (@cases $make:expr; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (service, name): (::std::sync::Arc<dyn $crate::queue::QueueService>, String) = $make.await;
                $crate::testing::queue_conformance::$case(service, name).await;
            }
        )+
    };
}
