//! NAR parsing fed in pieces: any input is events or an error, the same error and offset
//! whatever the pieces, never a panic.
#![no_main]

use chunker_core::nar::Parser;
use libfuzzer_sys::fuzz_target;

fn parse(pieces: &[&[u8]]) -> Result<usize, String> {
    let mut parser = Parser::new();
    let mut count = 0;
    for piece in pieces {
        let mut events = Vec::new();
        parser.feed(piece, &mut events).map_err(|e| e.to_string())?;
        count += events.len();
    }
    parser.finish().map_err(|e| e.to_string())?;
    Ok(count)
}

fuzz_target!(|input: &[u8]| {
    let [split, data @ ..] = input else {
        return;
    };
    let whole = parse(&[data]);
    let at = usize::from(*split).min(data.len());
    let (a, b) = data.split_at(at);
    let pieces = parse(&[a, b]);
    // File contents split across pieces make more Data events; the verdict must not change.
    assert_eq!(whole.is_ok(), pieces.is_ok(), "{whole:?} vs {pieces:?}");
    if let (Err(w), Err(p)) = (&whole, &pieces) {
        assert_eq!(w, p);
    }
    let mut no_paths = Parser::without_paths();
    let mut events = Vec::new();
    let _ = no_paths.feed(data, &mut events);
});
