//! Merging answers read by several access paths (one per sensor, per location, per id) into the one answer
//! order, `(timestamp, sensor_id)`, page by page: each input is already in that order, so a k-way merge keeps
//! the whole answer's order while holding one page per input, and a query for k keys costs k index reads plus
//! its answer — never a scan of the window.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use futures::StreamExt;

use super::{Page, PageStream, StoreError};
use crate::reading::Reading;

struct Input {
    pages: PageStream,
    buffered: VecDeque<Reading>,
    done: bool,
}

struct Merge {
    inputs: Vec<Input>,
    /// (timestamp, sensor_id, input) of each input's head, smallest first.
    heads: BinaryHeap<Reverse<(i64, u64, usize)>>,
    started: bool,
    page_size: usize,
    scanned: u64,
}

impl Merge {
    /// Makes sure input `i` has a head (pulling pages until one has a reading or the input ends) and puts it in
    /// the heap.
    async fn refill(&mut self, i: usize) -> Result<(), StoreError> {
        let input = &mut self.inputs[i];
        while input.buffered.is_empty() && !input.done {
            match input.pages.next().await {
                None => input.done = true,
                Some(page) => {
                    let page = page?;
                    self.scanned += page.scanned.unwrap_or(page.readings.len() as u64);
                    input.buffered.extend(page.readings);
                }
            }
        }
        if let Some(head) = input.buffered.front() {
            self.heads
                .push(Reverse((head.timestamp, head.sensor_id, i)));
        }
        Ok(())
    }

    async fn next_page(mut self) -> Result<Option<(Page, Merge)>, StoreError> {
        if !self.started {
            self.started = true;
            for i in 0..self.inputs.len() {
                self.refill(i).await?;
            }
        }
        let mut readings = Vec::with_capacity(self.page_size.min(4096));
        while readings.len() < self.page_size {
            let Some(Reverse((_, _, i))) = self.heads.pop() else {
                break;
            };
            if let Some(r) = self.inputs[i].buffered.pop_front() {
                readings.push(r);
            }
            self.refill(i).await?;
        }
        let scanned = std::mem::take(&mut self.scanned);
        // An answer that ends (or is) empty still reports what reading it examined, so its cost can be seen.
        if readings.is_empty() && scanned == 0 {
            return Ok(None);
        }
        Ok(Some((
            Page {
                readings,
                scanned: Some(scanned),
            },
            self,
        )))
    }
}

/// Merges answers that are each in `(timestamp, sensor_id)` order into one in that order, in pages of at most
/// `page_size`. Keys are distinct across inputs (each reading has one sensor, location and id), so no reading
/// appears twice.
pub fn merge_ordered(inputs: Vec<PageStream>, page_size: usize) -> PageStream {
    if inputs.len() == 1 {
        if let Some(only) = inputs.into_iter().next() {
            return only;
        }
        return Box::pin(futures::stream::empty());
    }
    let merge = Merge {
        inputs: inputs
            .into_iter()
            .map(|pages| Input {
                pages,
                buffered: VecDeque::new(),
                done: false,
            })
            .collect(),
        heads: BinaryHeap::new(),
        started: false,
        page_size: page_size.max(1),
        scanned: 0,
    };
    Box::pin(futures::stream::try_unfold(merge, Merge::next_page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn reading(timestamp: i64, sensor_id: u64) -> Reading {
        Reading {
            id: None,
            sensor_id,
            sensor_type: "SDS011".into(),
            location_id: None,
            latitude: None,
            longitude: None,
            altitude: None,
            country: String::new(),
            indoor: None,
            timestamp,
            pm10: Some(1.0),
            pm25: None,
            aqi: 1,
            band: crate::index::Band::Low,
        }
    }

    fn input(sensor: u64, times: &[i64], page: usize) -> PageStream {
        let pages: Vec<Result<Page, StoreError>> = times
            .chunks(page)
            .map(|c| {
                Ok(Page {
                    readings: c.iter().map(|t| reading(*t, sensor)).collect(),
                    scanned: None,
                })
            })
            .collect();
        Box::pin(futures::stream::iter(pages))
    }

    #[tokio::test]
    async fn merges_in_answer_order_in_pages() {
        let merged = merge_ordered(
            vec![
                input(3, &[1, 5, 9, 9], 2),
                input(1, &[5, 6], 1),
                input(2, &[], 1),
                input(7, &[0, 9, 10], 3),
            ],
            3,
        );
        let pages: Vec<Page> = merged.try_collect().await.expect("pages");
        assert!(pages.iter().all(|p| p.readings.len() <= 3));
        let keys: Vec<(i64, u64)> = pages
            .iter()
            .flat_map(|p| p.readings.iter().map(|r| (r.timestamp, r.sensor_id)))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 9);
    }
}
