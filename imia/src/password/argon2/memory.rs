//! argon2's working memory, kept from one hash to the next.

use std::sync::{Mutex, PoisonError};

use argon2::{Block, Params};

/// argon2's working memory (`m_cost` KiB), kept for the next hash: at most one buffer per slot
/// of the bound. Allocating it afresh for every hash lets the allocator keep each blocking
/// thread's freed copy, so resident memory grew with the number of threads that had ever hashed
/// rather than with the bound.
pub(super) struct WorkingMemory {
    /// How many blocks the hasher's own parameters need: the size of every kept buffer.
    blocks: usize,
    /// The most buffers kept: one per slot of the bound (`max_concurrent`).
    max_kept: usize,
    pool: Mutex<Vec<Vec<Block>>>,
}

impl WorkingMemory {
    /// Memory for hashes with `params`, keeping at most `max_kept` buffers.
    pub(super) fn new(params: &Params, max_kept: usize) -> Self {
        Self {
            blocks: params.block_count(),
            max_kept,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with argon2 working memory for `params`: a kept buffer when the current
    /// parameters need no more, else a fresh one (a stored hash costlier than the current
    /// parameters, within the ceiling), which is not kept.
    pub(super) fn with<R>(&self, params: &Params, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let (needed, kept) = (params.block_count(), self.blocks);
        if needed > kept {
            return f(&mut vec![Block::default(); needed]);
        }
        let pooled = self.pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut memory = pooled.unwrap_or_else(|| vec![Block::default(); kept]);
        let result = f(&mut memory[..needed]);
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < self.max_kept {
            pool.push(memory);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Argon2Hasher, PasswordVerifier as _, tests::block};

    /// argon2's working memory is allocated once per slot and reused, so that memory follows
    /// the bound rather than the number of threads that ever hashed.
    #[test]
    fn working_memory_is_kept_per_slot() {
        block(async {
            let h = Argon2Hasher::builder()
                .params(64, 1, 1)
                .max_concurrent(2)
                .build()
                .unwrap();
            let pool = || {
                h.inner
                    .memory
                    .pool
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_ptr())
                    .collect::<Vec<_>>()
            };
            let hash = h.hash("pw").await.unwrap();
            let first = pool();
            assert_eq!(first.len(), 1);
            assert!(h.verify("pw", &hash).await.unwrap());
            assert_eq!(pool(), first, "the same buffer again");
            let all = (0..8).map(|_| h.verify("pw", &hash));
            assert!(
                futures_util::future::join_all(all)
                    .await
                    .into_iter()
                    .all(|r| r.unwrap())
            );
            assert!(pool().len() <= 2, "one buffer per slot at most: {}", pool().len());
            let costlier = Argon2Hasher::builder()
                .params(256, 1, 1)
                .build()
                .unwrap()
                .hash("pw")
                .await
                .unwrap();
            let before = pool();
            assert!(h.verify("pw", &costlier).await.unwrap());
            assert_eq!(pool(), before, "a costlier stored hash's memory is not kept");
        });
    }
}
