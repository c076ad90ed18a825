//! Exclusive use of a resource's state by one call at a time.

use std::sync::{Mutex, TryLockError};

use rustler::{Env, NifResult, Term};

use crate::error::NativeError;

/// Runs `f` on the state unless another call holds it (`stream_busy`: waiting would block a
/// scheduler thread) or an earlier call panicked while holding it (`stream_finished`: the
/// state may be half-updated, so it is not used again).
pub fn with_state<'a, T, F>(env: Env<'a>, state: &Mutex<T>, f: F) -> NifResult<Term<'a>>
where
    F: FnOnce(&mut T) -> NifResult<Term<'a>>,
{
    match state.try_lock() {
        Ok(mut guard) => f(&mut guard),
        Err(TryLockError::WouldBlock) => Ok(NativeError::busy().term(env)),
        Err(TryLockError::Poisoned(_)) => Ok(NativeError::finished().term(env)),
    }
}
