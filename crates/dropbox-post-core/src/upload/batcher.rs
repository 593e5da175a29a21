//! Grouping work into batches, apart from what a batch is (after rclone's `lib/batcher`):
//! items arrive on a channel, the policy decides when the waiting ones go out together, and
//! a [`Commit`] sends them. Nothing here knows Dropbox: the engine commits closed upload
//! sessions through it (`finish_batch_v2`); appends of many sessions (`append_batch`) can
//! go through it the same way, their weight being their bytes.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// When the waiting items go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Items in one batch at most.
    pub max_items: usize,
    /// Summed [`Commit::weight`] of one batch at most (an item heavier alone goes alone).
    pub max_weight: u64,
    /// Send once no new item has come for this long...
    pub idle: Duration,
    /// ...or once the first item waiting has waited this long.
    pub max_wait: Duration,
}

/// What sends one batch.
pub trait Commit {
    type Item: Send;

    /// What an item counts against [`Policy::max_weight`] (its bytes, say).
    fn weight(&self, item: &Self::Item) -> u64;

    /// Sends `batch` (within the policy's bounds); the items returned are to be tried again
    /// in a later batch, ahead of those that came since. How often an item may come back is
    /// the committer's to bound: once the channel closes, batches go until none is left.
    fn commit(&self, batch: Vec<Self::Item>) -> impl Future<Output = Vec<Self::Item>> + Send;
}

/// Batches what arrives on `items` until the channel closes and everything is committed.
pub async fn run<C: Commit>(
    commit: &C,
    policy: &Policy,
    mut items: mpsc::UnboundedReceiver<C::Item>,
) {
    let mut waiting = Waiting {
        queue: VecDeque::new(),
        weight: 0,
    };
    let mut first = Instant::now();
    loop {
        let next = if waiting.queue.is_empty() {
            items.recv().await
        } else {
            let deadline = (Instant::now() + policy.idle).min(first + policy.max_wait);
            match tokio::time::timeout_at(deadline, items.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    waiting.send(commit, policy).await;
                    first = Instant::now();
                    continue;
                }
            }
        };
        let Some(item) = next else {
            while !waiting.queue.is_empty() {
                waiting.send(commit, policy).await;
            }
            return;
        };
        if waiting.queue.is_empty() {
            first = Instant::now();
        }
        waiting.weight += commit.weight(&item);
        waiting.queue.push_back(item);
        if waiting.full(policy) {
            // Full again after a send that took something: send on. A batch refused whole
            // waits for the timers instead of going round at once.
            while waiting.full(policy) && waiting.send(commit, policy).await {}
            first = Instant::now();
        }
    }
}

/// The items not yet committed, oldest first, and their summed weight.
struct Waiting<T> {
    queue: VecDeque<T>,
    weight: u64,
}

impl<T> Waiting<T> {
    fn full(&self, policy: &Policy) -> bool {
        self.queue.len() >= policy.max_items || self.weight >= policy.max_weight
    }

    /// Commits the oldest items that fit one batch; those to be tried again go first.
    /// Whether any was taken.
    async fn send<C: Commit<Item = T>>(&mut self, commit: &C, policy: &Policy) -> bool {
        let (mut count, mut weight) = (0, 0);
        for item in &self.queue {
            let w = commit.weight(item);
            if count == policy.max_items || (count > 0 && weight + w > policy.max_weight) {
                break;
            }
            (count, weight) = (count + 1, weight + w);
        }
        let batch: Vec<T> = self.queue.drain(..count).collect();
        self.weight -= weight;
        let again = commit.commit(batch).await;
        let taken = again.len() < count;
        for item in again.into_iter().rev() {
            self.weight += commit.weight(&item);
            self.queue.push_front(item);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Items are their weights; each batch is recorded with the (paused) time it went out.
    /// The first item of weight 0 is refused once, as if its commit had to wait.
    struct Recorder {
        start: Instant,
        batches: Mutex<Vec<(u64, Vec<u64>)>>,
        refused: Mutex<bool>,
    }

    impl Commit for Recorder {
        type Item = u64;

        fn weight(&self, item: &u64) -> u64 {
            *item
        }

        async fn commit(&self, batch: Vec<u64>) -> Vec<u64> {
            let at = self.start.elapsed().as_millis() as u64;
            self.batches.lock().unwrap().push((at, batch.clone()));
            let mut refused = self.refused.lock().unwrap();
            let again: Vec<u64> = batch.into_iter().filter(|w| *w == 0 && !*refused).collect();
            *refused |= !again.is_empty();
            again
        }
    }

    const POLICY: Policy = Policy {
        max_items: 3,
        max_weight: 10,
        idle: Duration::from_millis(200),
        max_wait: Duration::from_secs(1),
    };

    /// Sends each `(ms after the previous, item)`, closes the channel `hold` ms after the
    /// last; the batches committed, with when (ms).
    async fn batches(policy: Policy, items: &[(u64, u64)], hold: u64) -> Vec<(u64, Vec<u64>)> {
        let recorder = Recorder {
            start: Instant::now(),
            batches: Mutex::new(Vec::new()),
            refused: Mutex::new(false),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let items = items.to_vec();
        tokio::spawn(async move {
            for (delay, item) in items {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                tx.send(item).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(hold)).await;
        });
        run(&recorder, &policy, rx).await;
        recorder.batches.into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once_and_the_rest_once_idle() {
        let got = batches(POLICY, &[(0, 1), (0, 1), (0, 1), (0, 1), (50, 1)], 5000).await;
        assert_eq!(got, [(0, vec![1, 1, 1]), (250, vec![1, 1])]);
    }

    #[tokio::test(start_paused = true)]
    async fn items_that_keep_coming_wait_no_longer_than_max_wait() {
        let policy = Policy {
            max_items: 1000,
            ..POLICY
        };
        // Never idle for 200 ms: the first batch goes at 1 s, holding what came by then.
        let got = batches(policy, &[(150, 1); 10], 5000).await;
        assert_eq!(got, [(1150, vec![1; 7]), (1700, vec![1; 3])]);
    }

    #[tokio::test(start_paused = true)]
    async fn batches_stay_within_the_weight_and_a_heavier_item_goes_alone() {
        let got = batches(POLICY, &[(0, 4), (0, 4), (0, 4), (0, 30), (0, 2)], 5000).await;
        assert_eq!(
            got,
            [(0, vec![4, 4]), (0, vec![4]), (0, vec![30]), (200, vec![2])]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refused_items_lead_the_next_batch() {
        let got = batches(POLICY, &[(0, 0), (0, 1), (0, 1), (10, 1)], 5000).await;
        assert_eq!(got, [(0, vec![0, 1, 1]), (210, vec![0, 1])]);
    }

    /// Refuses every batch `n` times, then takes them.
    struct Refuser {
        start: Instant,
        refusals: Mutex<usize>,
        times: Mutex<Vec<u64>>,
    }

    impl Commit for Refuser {
        type Item = u64;

        fn weight(&self, item: &u64) -> u64 {
            *item
        }

        async fn commit(&self, batch: Vec<u64>) -> Vec<u64> {
            self.times
                .lock()
                .unwrap()
                .push(self.start.elapsed().as_millis() as u64);
            let mut refusals = self.refusals.lock().unwrap();
            let refused = *refusals > 0;
            *refusals = refusals.saturating_sub(1);
            if refused { batch } else { Vec::new() }
        }
    }

    /// A full batch refused whole is not sent again at once (and without end): it waits
    /// for the next item or the timers, like any other.
    #[tokio::test(start_paused = true)]
    async fn a_batch_refused_whole_waits_before_it_goes_again() {
        let refuser = Refuser {
            start: Instant::now(),
            refusals: Mutex::new(3),
            times: Mutex::new(Vec::new()),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        for _ in 0..3 {
            tx.send(1).unwrap();
        }
        let close = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(tx);
        });
        run(&refuser, &POLICY, rx).await;
        close.await.unwrap();
        assert_eq!(refuser.times.into_inner().unwrap(), [0, 200, 400, 600]);
    }

    #[tokio::test(start_paused = true)]
    async fn closing_commits_everything_at_once() {
        let got = batches(POLICY, &[(0, 0), (0, 1), (0, 1), (0, 1)], 0).await;
        assert_eq!(got, [(0, vec![0, 1, 1]), (0, vec![0, 1])]);
    }
}
