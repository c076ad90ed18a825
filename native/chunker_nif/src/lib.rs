//! The Erlang NIF of the `chunker` package.
//!
//! This crate only translates terms and picks schedulers; every algorithm lives in
//! `chunker_core`. Two contracts hold for every NIF:
//!
//! - errors have one shape, `{:error, {reason, message, details}}` (`error.rs`);
//! - work that grows with its input runs against a deadline and returns a continuation
//!   (`pace.rs`): a normal-scheduler entry and a `_dirty` twin made from one body by
//!   `twin_nifs!`; the Elixir side only loops, moving to the twin when a normal call did not
//!   finish, so no call holds a normal scheduler for more than a fraction of a millisecond.

// Nothing that input can reach may panic: no unwrap/expect/indexing outside tests, except
// where an `allow` says why it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod ahead;
mod atoms;
mod binary_sink;
mod chunking;
mod codec;
mod compression;
mod dictionary;
mod error;
mod exclusive;
mod file;
mod hashing;
mod lists;
mod nar;
mod nix;
mod options;
mod pace;
mod stats;
mod stream;
mod terms;
mod test_hooks;

/// Sizes rayon's pool (every parallel batch and scan runs on it) from the load info: a
/// positive thread count, or anything else for rayon's default of one thread per core.
fn load(_env: rustler::Env, info: rustler::Term) -> bool {
    // rayon takes 0 as its default.
    let threads = info.decode::<usize>().unwrap_or(0);
    // Fails only if the pool already exists (the library loaded twice in one OS process);
    // the existing pool is then kept.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|index| format!("chunker-{index}"))
        .build_global();
    true
}

/// `thread_count()` -> the number of threads of the pool the parallel work runs on.
#[rustler::nif]
fn thread_count() -> usize {
    rayon::current_num_threads()
}

/// `cut_engine()` -> `{engine, warning}`: the cut-point engine in use (`:scalar` or
/// `:interleaved`), and why `CHUNKER_CUT_ENGINE` was ignored (a string) or `nil`.
#[rustler::nif]
fn cut_engine(env: rustler::Env<'_>) -> rustler::NifResult<(rustler::Atom, Option<&'static str>)> {
    let name = chunker_core::cut_engine().name();
    let engine = rustler::Atom::from_str(env, name)?;
    Ok((engine, chunker_core::cut_engine_warning()))
}

rustler::init!("Elixir.Chunker.Native", load = load);
