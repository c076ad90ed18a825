//! Driving a decoder as a stream's caller does, for the compression tests.

use chunker_core::compression::{CompressionError, Decoder, VecSink};

/// Feeds `packed` to `decoder` in pieces of `piece` bytes, each call writing at most `budget`
/// bytes, then finishes it: what it wrote.
pub fn decode_with(
    mut decoder: Decoder,
    packed: &[u8],
    piece: usize,
    budget: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let mut sink = VecSink::new(&mut out);
    for p in packed.chunks(piece.max(1)) {
        let mut rest = p;
        loop {
            let step = decoder.decode(rest, &mut sink, budget)?;
            rest = &rest[step.consumed..];
            if rest.is_empty() && !step.pending {
                break;
            }
        }
    }
    decoder.finish(&mut sink)?;
    sink.finish();
    Ok(out)
}
