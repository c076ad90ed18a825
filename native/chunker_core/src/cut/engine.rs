//! Which cut-point scan runs: chosen once per process, from `CHUNKER_CUT_ENGINE` or by default.
//!
//! Every engine gives exactly the same cut points; they differ only in speed. `scalar` scans
//! one chain of chunks at a time (the `fastcdc` crate's loop); `interleaved` scans two
//! independent chains in one loop (`v2020::scan_lanes`, and `byte_lanes` for `v2016` and
//! `ronomon`), and is what `auto` (the default) picks. Forcing an engine is for tests and for comparing speeds.

use std::sync::OnceLock;

/// A cut-point engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutEngine {
    /// One chain of chunks at a time.
    Scalar,
    /// Two chains of chunks in one loop, for every algorithm.
    Interleaved,
}

impl CutEngine {
    /// The engine's name, as `CHUNKER_CUT_ENGINE` spells it.
    pub fn name(self) -> &'static str {
        match self {
            CutEngine::Scalar => "scalar",
            CutEngine::Interleaved => "interleaved",
        }
    }

    /// The engine `CHUNKER_CUT_ENGINE` names (`scalar`, `interleaved`, or `auto`), or an error
    /// naming what it holds instead.
    pub fn parse(value: &str) -> Result<Option<CutEngine>, String> {
        match value {
            "scalar" => Ok(Some(CutEngine::Scalar)),
            "interleaved" => Ok(Some(CutEngine::Interleaved)),
            "auto" | "" => Ok(None),
            other => Err(format!(
                "CHUNKER_CUT_ENGINE={other:?}: expected scalar, interleaved or auto"
            )),
        }
    }
}

/// The engine in use: the one `CHUNKER_CUT_ENGINE` names, read once, else the fastest
/// here (`Interleaved`). A value naming no engine is ignored, and said by
/// [`cut_engine_warning`].
pub fn cut_engine() -> CutEngine {
    chosen().0
}

/// Why `CHUNKER_CUT_ENGINE` was ignored, if it was.
pub fn cut_engine_warning() -> Option<&'static str> {
    chosen().1.as_deref()
}

fn chosen() -> &'static (CutEngine, Option<String>) {
    static CHOSEN: OnceLock<(CutEngine, Option<String>)> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        let setting = match std::env::var("CHUNKER_CUT_ENGINE") {
            Ok(value) => CutEngine::parse(value.trim()),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err("CHUNKER_CUT_ENGINE is not valid Unicode".to_owned())
            }
        };
        match setting {
            Ok(engine) => (engine.unwrap_or(CutEngine::Interleaved), None),
            Err(why) => (CutEngine::Interleaved, Some(why)),
        }
    })
}
