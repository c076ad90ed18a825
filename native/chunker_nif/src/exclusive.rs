//! Exclusive use of a resource's state by one call at a time.

use std::sync::{Mutex, TryLockError};

use rustler::{Encoder, Env, NifResult, Term};

use crate::atoms;

/// Runs `f` on the state unless another call holds it (`{:error, :stream_busy}`; waiting
/// would block a scheduler thread) or an earlier call panicked while holding it
/// (`{:error, :stream_finished}`: the state may be half-updated, so it is not used again).
pub fn with_state<'a, T, F>(env: Env<'a>, state: &Mutex<T>, f: F) -> NifResult<Term<'a>>
where
    F: FnOnce(&mut T) -> NifResult<Term<'a>>,
{
    match state.try_lock() {
        Ok(mut guard) => f(&mut guard),
        Err(TryLockError::WouldBlock) => Ok((atoms::error(), atoms::stream_busy()).encode(env)),
        Err(TryLockError::Poisoned(_)) => {
            Ok((atoms::error(), atoms::stream_finished()).encode(env))
        }
    }
}
