//! The Erlang NIF of the `chunker` package.
//!
//! This crate only translates terms and picks schedulers; every algorithm lives in
//! `chunker_core`. Each NIF whose work grows with its input has a normal-scheduler entry and a
//! `_dirty` twin on a dirty CPU scheduler; the Elixir side picks one by input size (see
//! `Chunker.Native`), so no call holds a normal scheduler for more than a fraction of a
//! millisecond.

mod allocator;
mod atoms;
mod binary_sink;
mod chunking;
mod codec;
mod compression;
mod exclusive;
mod hashing;
mod nar;
mod nix;
mod options;
mod stream;
mod terms;
mod timeslice;

rustler::init!("Elixir.Chunker.Native");
