//! Running independent work items on rayon's pool, in order.
//!
//! One place decides how work is spread over cores, for every batch API of the crate (and of
//! the NIF, which calls this rather than rayon). (Having the calling thread take the first
//! item itself, rayon::in_place_scope style, was measured slower on the 2-core reference
//! machine: compress_many at 1.05-1.13x one core, against 1.36-1.44x with `par_iter`.)

use rayon::prelude::*;

/// Maps `f` over `items`, in parallel, results in input order; a single item runs on the
/// calling thread.
pub fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    if items.len() > 1 {
        items.par_iter().with_max_len(1).map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// Like [`map`], pairing each item with the mutable slot at the same index.
pub fn map_with<T, S, R, F>(items: &[T], slots: &mut [S], f: F) -> Vec<R>
where
    T: Sync,
    S: Send,
    R: Send,
    F: Fn(&T, &mut S) -> R + Sync + Send,
{
    if items.len() > 1 {
        items
            .par_iter()
            .zip(slots.par_iter_mut())
            .with_max_len(1)
            .map(|(item, slot)| f(item, slot))
            .collect()
    } else {
        items
            .iter()
            .zip(slots.iter_mut())
            .map(|(item, slot)| f(item, slot))
            .collect()
    }
}

/// Like [`map`], for many items of uneven, often tiny, cost: the items are grouped into runs
/// of about equal `weight` (16 per thread), each run mapped on one thread, so the pool's
/// per-task cost is paid per run rather than per item. (Measured with hash_many of 10,000
/// 64-byte items: one task per item made 2 threads no faster than one.)
pub fn map_by_weight<T, R, W, F>(items: &[T], weight: W, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> usize,
    F: Fn(&T) -> R + Sync + Send,
{
    let total: usize = items.iter().map(&weight).sum();
    // Many runs per thread, so that a thread slowed by a neighbour (on a 2-core machine, a
    // BEAM scheduler thread spinning) leaves its share to be stolen.
    let runs = rayon::current_num_threads().saturating_mul(16).max(1);
    let target = (total / runs).max(1);
    let mut bounds = Vec::with_capacity(runs + 1);
    let mut start = 0;
    let mut filled = 0;
    for (index, item) in items.iter().enumerate() {
        filled += weight(item);
        if filled >= target {
            bounds.push(start..index + 1);
            start = index + 1;
            filled = 0;
        }
    }
    if start < items.len() {
        bounds.push(start..items.len());
    }
    let mapped: Vec<Vec<R>> = map(&bounds, |range| {
        items
            .get(range.clone())
            .unwrap_or_default()
            .iter()
            .map(&f)
            .collect()
    });
    mapped.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_input_order() {
        let items: Vec<u64> = (0..1000).collect();
        assert_eq!(
            super::map(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let mut slots = vec![0u64; 1000];
        let sums = super::map_with(&items, &mut slots, |x, slot| {
            *slot = *x + 1;
            *slot
        });
        assert_eq!(sums, slots);
        assert!(super::map(&[] as &[u8], |x| *x).is_empty());
        for weight in [0usize, 1, 1000] {
            assert_eq!(
                super::map_by_weight(&items, |_| weight, |x| x * 2),
                items.iter().map(|x| x * 2).collect::<Vec<_>>()
            );
        }
        assert!(super::map_by_weight(&[] as &[u8], |_| 1, |x| *x).is_empty());
    }
}
