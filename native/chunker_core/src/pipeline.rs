//! Hashing chunks on rayon's pool while the cut-point scan is still running.
//!
//! The scan is sequential by nature and is the larger cost (about 70% of chunk + BLAKE3 on
//! random data), so the second core is best spent hashing the chunks already found: the scan
//! submits each chunk's bytes to a [`Hashing`], which hands them to the pool in batches of
//! about [`TASK_BYTES`]. Small inputs are hashed inline instead, where the pool's hand-off
//! would cost more than it saves.

use std::sync::mpsc;

use crate::chunk::ChunkBytes;
use crate::hash::{Digest, HashAlgorithm};

/// Bytes of chunks hashed per pool task: large enough that a task's hand-off (a few
/// microseconds) is noise, small enough that the scan never waits long for the last task of a
/// call. `cargo bench --bench chunking -- vs_reference`, 1 MiB pieces at 16 KiB average
/// chunks: 133 ms per 256 MiB with 256 KiB tasks, 109 ms with 64 KiB tasks.
pub(crate) const TASK_BYTES: usize = 64 * 1024;

/// Below this many input bytes a call hashes inline. Measured with `cargo bench --bench
/// chunking -- parallel_hash`: on the 2-core reference machine, 256 KiB of 16 KiB chunks hash
/// faster on the pool than inline (38.7 us vs 44.3 us), 128 KiB do not (28.7 us vs 22.0 us).
pub const PARALLEL_MIN_BYTES: usize = 256 * 1024;

type Finished = (usize, Vec<Digest>);

/// Collects chunk bytes to hash, in order; see [`with_hashing`].
pub(crate) struct Hashing<'s, 'd> {
    algo: HashAlgorithm,
    scope: Option<&'s rayon::Scope<'d>>,
    sender: mpsc::Sender<Finished>,
    batch: Vec<ChunkBytes<'d>>,
    batch_first: usize,
    batch_bytes: usize,
    submitted: usize,
}

impl<'d> Hashing<'_, 'd> {
    /// Queues `bytes` as the next chunk to hash.
    pub(crate) fn submit(&mut self, bytes: ChunkBytes<'d>) {
        self.batch.push(bytes);
        self.batch_bytes += bytes.len();
        self.submitted += 1;
        if self.batch_bytes >= TASK_BYTES {
            self.flush();
        }
    }

    /// Hands the pending batch to the pool, or hashes it on this thread when `inline` (the
    /// last batch of a call: the scan is over, so this thread would otherwise only wait).
    fn flush_batch(&mut self, inline: bool) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let first = self.batch_first;
        self.batch_first = self.submitted;
        self.batch_bytes = 0;
        let (algo, sender) = (self.algo, self.sender.clone());
        let task = move || {
            let digests = batch.iter().map(|bytes| algo.hash_bytes(bytes)).collect();
            // The receiver outlives every task (it is read after the scope ends).
            let _ = sender.send((first, digests));
        };
        match self.scope {
            Some(scope) if !inline => scope.spawn(move |_| task()),
            _ => task(),
        }
    }

    fn flush(&mut self) {
        self.flush_batch(false);
    }
}

/// Runs `body`, which finds chunks and [`submit`](Hashing::submit)s their bytes, and returns
/// its result with the digests in submission order. With `parallel`, the hashing runs on
/// rayon's pool while `body` runs on this thread, which hashes the last batch itself.
pub(crate) fn with_hashing<'d, R, F>(
    algo: HashAlgorithm,
    parallel: bool,
    body: F,
) -> (R, Vec<Digest>)
where
    R: Send,
    F: for<'s> FnOnce(&mut Hashing<'s, 'd>) -> R + Send,
{
    let (sender, receiver) = mpsc::channel();
    let run = |scope: Option<&rayon::Scope<'d>>| {
        let mut hashing = Hashing {
            algo,
            scope,
            sender,
            batch: Vec::new(),
            batch_first: 0,
            batch_bytes: 0,
            submitted: 0,
        };
        let result = body(&mut hashing);
        hashing.flush_batch(true);
        (result, hashing.submitted)
    };
    let (result, submitted) = if parallel && rayon::current_num_threads() > 1 {
        rayon::in_place_scope(|scope| run(Some(scope)))
    } else {
        run(None)
    };
    let mut digests = vec![[0u8; 32]; submitted];
    for (first, batch) in receiver.try_iter() {
        let slots = digests.iter_mut().skip(first);
        for (slot, digest) in slots.zip(batch) {
            *slot = digest;
        }
    }
    (result, digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_come_back_in_submission_order_on_both_paths() {
        // Under Miri (~1000x slower) a smaller input, so it finishes in minutes.
        let (len, piece) = if cfg!(miri) {
            (12_000, 2_000)
        } else {
            (3_000_000, 10_000)
        };
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let pieces: Vec<&[u8]> = data.chunks(piece).collect();
        let want: Vec<Digest> = pieces
            .iter()
            .map(|p| HashAlgorithm::Blake3.hash(p))
            .collect();
        for parallel in [false, true] {
            let (count, got) = with_hashing(HashAlgorithm::Blake3, parallel, |h| {
                for piece in &pieces {
                    h.submit(ChunkBytes::contiguous(piece));
                }
                pieces.len()
            });
            assert_eq!(count, pieces.len());
            assert_eq!(got, want, "parallel: {parallel}");
        }
    }
}
