//! The `tracing` spans and `metrics` counters of the `tracing` and `metrics` features, seen by
//! a subscriber and a recorder installed for the whole process (rayon's pool threads report to
//! them too): `cargo test -p chunker_core --features tracing,metrics --test observe`.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chunker_core::compression::{compress, decompress, Format, DEFAULT_MAX_SIZE};
use chunker_core::nar::{Dump, Parser};
use chunker_core::{chunk_many, chunk_slice, ChunkerConfig, HashAlgorithm, IncrementalChunker};
use chunker_testdata::random_bytes;
use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};

/// Spans opened: their names and fields.
#[derive(Default)]
struct Spans {
    next: AtomicU64,
    seen: Mutex<Vec<(String, HashMap<String, String>)>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl Subscriber for &'static Spans {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let name = span.metadata().name().to_string();
        self.seen.lock().unwrap().push((name, fields));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Counters by name and labels.
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

struct Cell(Arc<AtomicU64>);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

fn key_text(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl metrics::Recorder for &'static Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let cell = self
            .0
            .lock()
            .unwrap()
            .entry(key_text(key))
            .or_default()
            .clone();
        Counter::from_arc(Arc::new(Cell(cell)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Counters {
    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

#[test]
fn spans_and_counters_report_the_work_done() {
    let spans: &'static Spans = Box::leak(Box::default());
    let counters: &'static Counters = Box::leak(Box::default());
    tracing::subscriber::set_global_default(spans).unwrap();
    metrics::set_global_recorder(counters).unwrap();
    let span_named = |name: &str| {
        spans
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .cloned()
            .collect::<Vec<_>>()
    };

    let config = ChunkerConfig::new(4096, 16_384, 65_536).unwrap();
    let data = random_bytes(3_000_000, 5);
    let chunks = chunk_slice(&data, &config, Some(HashAlgorithm::Blake3));
    assert_eq!(counters.get("chunker.chunk.bytes{}"), 3_000_000);
    assert_eq!(counters.get("chunker.chunk.chunks{}"), chunks.len() as u64);
    let slice = span_named("chunker.chunk_slice");
    assert_eq!(slice.len(), 1);
    assert_eq!(slice[0].1["bytes"], "3000000");

    // Incremental: every byte fed and every chunk returned, once.
    let mut chunker = IncrementalChunker::new(config.clone(), None);
    let mut fed_chunks = 0;
    for piece in data.chunks(700_000) {
        fed_chunks += chunker.feed(piece).unwrap().len();
    }
    fed_chunks += chunker.finish().unwrap().len();
    assert_eq!(fed_chunks, chunks.len());
    assert_eq!(counters.get("chunker.chunk.bytes{}"), 6_000_000);
    assert_eq!(
        counters.get("chunker.chunk.chunks{}"),
        2 * chunks.len() as u64
    );
    assert_eq!(span_named("chunker.feed").len(), 5);
    assert_eq!(span_named("chunker.finish").len(), 1);

    let items: Vec<&[u8]> = vec![&data[..1000], &data[1000..200_000]];
    chunk_many(&items, &config, None);
    assert_eq!(counters.get("chunker.chunk.bytes{}"), 6_200_000);
    assert_eq!(span_named("chunker.chunk_many")[0].1["items"], "2");

    HashAlgorithm::Sha256.hash_many(&items);
    assert_eq!(
        counters.get("chunker.hash.bytes{algorithm=sha256}"),
        200_000
    );

    let text = b"a line of text to compress\n".repeat(20_000);
    for format in [Format::Zstd, Format::Lz4, Format::Xz, Format::Bzip2] {
        let name = format.name();
        let frame = compress(&text, format, None).unwrap();
        assert_eq!(decompress(&frame, None, DEFAULT_MAX_SIZE).unwrap(), text);
        let got = |key: &str| counters.get(&format!("chunker.{key}{{format={name}}}"));
        assert_eq!(got("compress.bytes_in"), text.len() as u64, "{name}");
        assert_eq!(got("compress.bytes_out"), frame.len() as u64, "{name}");
        assert_eq!(got("decompress.bytes_in"), frame.len() as u64, "{name}");
        assert_eq!(got("decompress.bytes_out"), text.len() as u64, "{name}");
    }
    assert_eq!(span_named("chunker.compress").len(), 4);
    assert_eq!(span_named("chunker.decompress").len(), 4);

    let dir = std::env::temp_dir().join(format!("chunker-observe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file"), &data[..100_000]).unwrap();
    let mut nar = Vec::new();
    Dump::new(&dir).unwrap().read_to_end(&mut nar).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(counters.get("chunker.nar.dump.bytes{}"), nar.len() as u64);
    let mut parser = Parser::new();
    parser.feed(&nar, &mut Vec::new()).unwrap();
    parser.finish().unwrap();
    assert_eq!(counters.get("chunker.nar.parse.bytes{}"), nar.len() as u64);
}
