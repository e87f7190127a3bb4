//! Hot answers (issue 13): the store's data version, read at most once a second, and a byte-bounded cache of
//! whole answers keyed by the normalised question and that version, so a repeated question is served from memory
//! and a write (which bumps the version) retires every cached answer at once.
//!
//! Staleness: a process reads the store's version at most every [`VERSION_FRESH`] (1 s by default), so an answer
//! (cached, or its `ETag`) may lag a write by at most that long — a feed updated every 5 minutes is not served
//! stale for more than a second. The cache never holds an answer under any other version than the one read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{answer, Ask, Chunk};
use crate::query::Query;
use crate::store::{ReadingStore, StoreError};

/// How long a read data version is trusted.
pub const VERSION_FRESH: Duration = Duration::from_secs(1);

/// The largest answer the cache keeps (hot answers are small: a country's hour is tens of KiB).
pub const LARGEST_ANSWER: usize = 1 << 20;

/// The default cache size (`--answer-cache`).
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// The store's data version, read at most once per `fresh`; concurrent callers share one read.
pub struct VersionClock {
    store: Arc<dyn ReadingStore>,
    fresh: Duration,
    /// The last version read, and when: every request checks it, without waiting (no `.await` while held).
    last: std::sync::Mutex<Option<(Instant, u64)>>,
    /// Held by the one caller reading the store, so that callers of a stale clock wait for one read instead of
    /// each making their own.
    reading: tokio::sync::Mutex<()>,
}

impl VersionClock {
    pub fn new(store: Arc<dyn ReadingStore>, fresh: Duration) -> VersionClock {
        VersionClock {
            store,
            fresh,
            last: std::sync::Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// The data version, at most `fresh` old.
    pub async fn now(&self) -> Result<u64, StoreError> {
        if let Some(version) = self.fresh_version() {
            return Ok(version);
        }
        let _reading = self.reading.lock().await;
        // Another caller may have read it while this one waited.
        if let Some(version) = self.fresh_version() {
            return Ok(version);
        }
        let version = self.store.data_version().await?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), version));
        Ok(version)
    }

    fn fresh_version(&self) -> Option<u64> {
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.and_then(|(at, version)| (at.elapsed() < self.fresh).then_some(version))
    }
}

/// What the cache is keyed by: the question as text (the ask and the query's normal form, as JSON), with the
/// data version it was answered at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    version: u64,
    question: Vec<u8>,
}

impl AnswerKey {
    /// Written into one buffer: this runs for every request.
    pub fn new(query: &Query, ask: Ask, version: u64) -> AnswerKey {
        let mut question = Vec::with_capacity(160);
        // Serialising these plain structs cannot fail (no maps with non-string keys, no custom errors).
        let _ = serde_json::to_writer(&mut question, &ask);
        question.push(b'|');
        let _ = query.write_normal_form(&mut question);
        AnswerKey { version, question }
    }

    /// A strong entity tag: the same bytes for the same key (answers are deterministic for a query at a data
    /// version: same rows, same order, same encoding).
    pub fn etag(&self) -> String {
        let digest = Sha256::new()
            .chain_update(self.version.to_be_bytes())
            .chain_update(&self.question)
            .finalize();
        let mut tag = String::with_capacity(26);
        tag.push('"');
        tag.push_str(&hex::encode(&digest[..12]));
        tag.push('"');
        tag
    }
}

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<AnswerKey, Bytes> for ByLength {
    fn weight(&self, key: &AnswerKey, answer: &Bytes) -> u64 {
        (key.question.len() + answer.len()) as u64
    }
}

/// Whole answers in memory, bounded by bytes; `capacity` 0 turns it off.
pub struct AnswerCache {
    entries: Option<quick_cache::sync::Cache<AnswerKey, Bytes, ByLength>>,
    /// The largest answer kept: an eighth of the cache, so one huge answer cannot flush every hot one, and at
    /// most [`LARGEST_ANSWER`], because an answer is copied aside while it streams: with every direct permit
    /// busy that copy costs at most `--direct-limit` × 1 MiB, not `--direct-limit` × the largest answer.
    largest: usize,
    /// The newest data version seen: entries under older ones can never be asked for again.
    version: AtomicU64,
    /// Lookups counted: hits, misses.
    lookups: std::sync::OnceLock<(metrics::Counter, metrics::Counter)>,
}

impl AnswerCache {
    pub fn new(capacity: u64) -> AnswerCache {
        let entries = (capacity > 0).then(|| {
            // An estimate of the entry count sizes the table: answers of a few KiB to a few hundred.
            let estimate =
                usize::try_from((capacity / (16 << 10)).clamp(64, 1 << 16)).unwrap_or(64);
            quick_cache::sync::Cache::with_weighter(estimate, capacity, ByLength)
        });
        AnswerCache {
            entries,
            largest: usize::try_from(capacity / 8)
                .unwrap_or(usize::MAX)
                .min(LARGEST_ANSWER),
            version: AtomicU64::new(0),
            lookups: std::sync::OnceLock::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// Notes the version a request runs at; a newer one empties the cache (the old answers are unreachable).
    pub fn observe(&self, version: u64) {
        let previous = self.version.fetch_max(version, Ordering::AcqRel);
        if version > previous {
            if let Some(entries) = &self.entries {
                entries.clear();
            }
        }
    }

    pub fn get(&self, key: &AnswerKey) -> Option<Bytes> {
        let hit = self.entries.as_ref()?.get(key);
        // The counters' handles are made at the first lookup (the process's recorder is installed by then), not
        // per lookup: the macro builds and hashes a labelled key at every call.
        let (hits, misses) = self.lookups.get_or_init(|| {
            let counter = |outcome: &'static str| {
                metrics::counter!(crate::metrics::ANSWER_CACHE, "outcome" => outcome)
            };
            (counter("hit"), counter("miss"))
        });
        match hit {
            Some(_) => hits.increment(1),
            None => misses.increment(1),
        }
        hit
    }

    fn keep(&self, key: AnswerKey, answer: Bytes) {
        if let Some(entries) = &self.entries {
            // Only answers of the newest version seen: a slow answer finishing after a write is not kept.
            if key.version == self.version.load(Ordering::Acquire) {
                entries.insert(key, answer);
            }
        }
    }

    /// Bytes held.
    pub fn weight(&self) -> u64 {
        self.entries.as_ref().map_or(0, |e| e.weight())
    }
}

struct Filling {
    chunks: BoxStream<'static, Chunk>,
    cache: Arc<AnswerCache>,
    key: Option<AnswerKey>,
    /// The answer so far, while it still fits.
    kept: Option<Vec<u8>>,
}

impl Filling {
    async fn next(mut self) -> Option<(Chunk, Filling)> {
        match self.chunks.next().await {
            Some(Ok(chunk)) => {
                if let Some(kept) = &mut self.kept {
                    if kept.len() + chunk.len() <= self.cache.largest {
                        kept.extend_from_slice(&chunk);
                    } else {
                        self.kept = None;
                    }
                }
                Some((Ok(chunk), self))
            }
            Some(Err(e)) => {
                // A failed answer is never kept.
                self.kept = None;
                Some((Err(e), self))
            }
            None => {
                if let (Some(kept), Some(key)) = (self.kept.take(), self.key.take()) {
                    self.cache.keep(key, Bytes::from(kept));
                }
                None
            }
        }
    }
}

/// The cache and the clock together: what a gateway (and the workers in its process) answer through.
pub struct Answers {
    pub cache: Arc<AnswerCache>,
    pub clock: VersionClock,
}

impl Answers {
    pub fn new(store: Arc<dyn ReadingStore>, cache_bytes: u64, fresh: Duration) -> Answers {
        Answers {
            cache: Arc::new(AnswerCache::new(cache_bytes)),
            clock: VersionClock::new(store, fresh),
        }
    }

    /// The key of a question now: the data version read (at most `fresh` old), the cache told about it.
    pub async fn key(&self, query: &Query, ask: Ask) -> Result<AnswerKey, StoreError> {
        let version = self.clock.now().await?;
        self.cache.observe(version);
        Ok(AnswerKey::new(query, ask, version))
    }

    /// Answers `ask` over `query` at `key`: from the cache when it holds the answer (one chunk), else from the
    /// store, keeping the whole answer in the cache at the end when it is small enough.
    pub fn answer(
        &self,
        key: AnswerKey,
        store: &Arc<dyn ReadingStore>,
        query: &Query,
        ask: Ask,
        page_size: usize,
    ) -> BoxStream<'static, Chunk> {
        if let Some(hit) = self.cache.get(&key) {
            return Box::pin(futures::stream::once(async move { Ok(hit) }));
        }
        let chunks = answer(store, query, ask, page_size);
        if !self.cache.enabled() {
            return chunks;
        }
        let state = Filling {
            chunks,
            cache: self.cache.clone(),
            key: Some(key),
            kept: Some(Vec::new()),
        };
        Box::pin(futures::stream::unfold(state, Filling::next))
    }
}
