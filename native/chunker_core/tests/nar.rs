//! NAR writing and parsing: round trips, and every way a NAR can be invalid. (Byte
//! identity with `nix-store --dump` and offsets against `nix nar ls` are tested from ExUnit,
//! where CI installs Nix.)

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use chunker_core::nar::{Dump, Event, NarError, Parser};

fn temp_tree(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("chunker-nar-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("dir/empty")).unwrap();
    std::fs::write(root.join("dir/file"), b"contents").unwrap();
    std::fs::write(root.join("dir/exe"), vec![7u8; 100_003]).unwrap();
    std::fs::set_permissions(root.join("dir/exe"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("dir/B"), b"").unwrap();
    std::os::unix::fs::symlink("file", root.join("dir/link")).unwrap();
    root
}

fn dump(path: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    Dump::new(path).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn parse_all(nar: &[u8], piece: usize) -> Result<Vec<Event<'static>>, NarError> {
    let mut parser = Parser::new();
    let mut events: Vec<Event<'static>> = Vec::new();
    for p in nar.chunks(piece.max(1)) {
        let mut batch = Vec::new();
        parser.feed(p, &mut batch)?;
        for event in batch {
            events.push(match event {
                Event::Data(bytes) => Event::Data(Box::leak(bytes.to_vec().into_boxed_slice())),
                Event::Directory { path } => Event::Directory { path },
                Event::Symlink { path, target } => Event::Symlink { path, target },
                Event::File {
                    path,
                    executable,
                    size,
                    offset,
                } => Event::File {
                    path,
                    executable,
                    size,
                    offset,
                },
                Event::FileEnd => Event::FileEnd,
            });
        }
    }
    parser.finish()?;
    Ok(events)
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s);
    out.resize(out.len().div_ceil(8) * 8, 0);
    out
}

fn nar_of(strings: &[&[u8]]) -> Vec<u8> {
    strings.iter().flat_map(|s| string(s)).collect()
}

#[test]
fn a_dumped_tree_parses_back_in_any_pieces() {
    let root = temp_tree("roundtrip");
    let nar = dump(&root.join("dir"));
    let whole = parse_all(&nar, nar.len()).unwrap();
    let names: Vec<String> = whole
        .iter()
        .filter_map(|e| match e {
            Event::Directory { path } | Event::Symlink { path, .. } | Event::File { path, .. } => {
                Some(String::from_utf8_lossy(path).into_owned())
            }
            _ => None,
        })
        .collect();
    // Sorted by bytes: "B" before lower case.
    assert_eq!(names, ["", "B", "empty", "exe", "file", "link"]);
    let exe = whole.iter().find_map(|e| match e {
        Event::File {
            path,
            executable,
            size,
            offset,
        } if path == b"exe" => Some((*executable, *size, *offset)),
        _ => None,
    });
    let (executable, size, offset) = exe.unwrap();
    assert!(executable);
    assert_eq!(size, 100_003);
    assert_eq!(
        &nar[offset as usize..offset as usize + 100_003],
        &vec![7u8; 100_003][..]
    );
    for piece in [1, 3, 8, 13, 4096] {
        let events = parse_all(&nar, piece).unwrap();
        let data: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(*d),
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        assert_eq!(data.len(), 100_003 + 8);
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn single_files_and_symlinks_are_nars_too() {
    let root = temp_tree("single");
    for (path, expect) in [("dir/file", b"contents".to_vec()), ("dir/B", vec![])] {
        let events = parse_all(&dump(&root.join(path)), 5).unwrap();
        assert!(
            matches!(&events[0], Event::File { path, size, .. } if path.is_empty() && *size == expect.len() as u64)
        );
    }
    let events = parse_all(&dump(&root.join("dir/link")), 5).unwrap();
    assert_eq!(
        events,
        [Event::Symlink {
            path: vec![],
            target: b"file".to_vec()
        }]
    );
    std::fs::remove_dir_all(root).unwrap();
}

fn error_of(nar: &[u8]) -> NarError {
    parse_all(nar, nar.len()).unwrap_err()
}

#[test]
fn every_invalid_form_is_refused_with_its_offset() {
    fn file(name: &[u8]) -> Vec<&[u8]> {
        vec![
            b"entry",
            b"(",
            b"name",
            name,
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"x",
            b")",
            b")",
        ]
    }
    let dir_with = |names: &[&[u8]]| -> Vec<u8> {
        let mut strings: Vec<&[u8]> = vec![b"nix-archive-1", b"(", b"type", b"directory"];
        let owned: Vec<Vec<&[u8]>> = names.iter().map(|n| file(n)).collect();
        for entry in &owned {
            strings.extend_from_slice(entry);
        }
        strings.push(b")");
        nar_of(&strings)
    };
    assert!(parse_all(&dir_with(&[b"a", b"b"]), 7).is_ok());

    for (nar, message) in [
        (nar_of(&[b"nix-archive-2"]), "not a NAR"),
        (dir_with(&[b"b", b"a"]), "unsorted directory entry"),
        (dir_with(&[b"a", b"a"]), "duplicate directory entry"),
        (dir_with(&[b""]), "invalid file name"),
        (dir_with(&[b"."]), "invalid file name"),
        (dir_with(&[b".."]), "invalid file name"),
        (dir_with(&[b"a/b"]), "invalid file name"),
        (dir_with(&[b"a\0b"]), "invalid file name"),
        (
            nar_of(&[b"nix-archive-1", b"(", b"type", b"fifo"]),
            "unknown node type",
        ),
        (
            nar_of(&[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"yes",
            ]),
            "executable marker",
        ),
        (
            nar_of(&[b"nix-archive-1", b"(", b"type", b"regular", b"size", b"1"]),
            "expected \"executable\" or \"contents\"",
        ),
        (
            nar_of(&[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"contents",
                b"x",
                b")",
                b"extra",
            ]),
            "data after the end",
        ),
        (
            nar_of(&[b"nix-archive-1", b"(", b"type", b"symlink", b"target", b"x"]),
            "truncated",
        ),
    ] {
        let error = error_of(&nar);
        assert!(error.message.contains(message), "{message}: got {error}");
    }

    // Non-zero padding, and the offset of the string at fault.
    let mut nar = nar_of(&[
        b"nix-archive-1",
        b"(",
        b"type",
        b"regular",
        b"contents",
        b"x",
        b")",
    ]);
    let contents_pad = nar.len() - 16 - 7 + 1;
    nar[contents_pad] = 1;
    assert!(error_of(&nar).message.contains("non-zero padding"));
    let unsorted = dir_with(&[b"b", b"a"]);
    let error = error_of(&unsorted);
    assert_eq!(
        &unsorted[error.offset as usize + 8..error.offset as usize + 9],
        b"a"
    );

    // A hostile length is refused before anything is read.
    let mut huge = nar_of(&[b"nix-archive-1", b"(", b"type", b"symlink", b"target"]);
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(error_of(&huge).message.contains("symlink target of"));
    let mut huge = nar_of(&[b"nix-archive-1"]);
    huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(error_of(&huge).message.contains("expected \"(\""));
}

#[test]
fn errors_stick_and_truncation_is_caught_at_every_length() {
    let root = temp_tree("trunc");
    let nar = dump(&root.join("dir"));
    for cut in (0..nar.len()).step_by(97).chain([nar.len() - 1]) {
        assert!(parse_all(&nar[..cut], 11).is_err(), "cut at {cut} parsed");
    }
    let mut parser = Parser::new();
    let mut events = Vec::new();
    assert!(parser
        .feed(b"\x01\0\0\0\0\0\0\0x\0\0\0\0\0\0\0", &mut events)
        .is_err());
    assert!(parser.feed(&nar, &mut events).is_err());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn nar_aware_chunks_of_a_large_file_do_not_depend_on_its_neighbours() {
    use chunker_core::{chunk_slice, ChunkerConfig, HashAlgorithm, NarAwareChunker};
    let config = ChunkerConfig::new(1024, 4096, 16_384).unwrap();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut nars = Vec::new();
    for (name, prefix) in [("a", 10usize), ("b", 77_777)] {
        let root =
            std::env::temp_dir().join(format!("chunker-nar-aware-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        // A different small file in front shifts the big file's place in the NAR.
        std::fs::write(root.join("a-small"), vec![3u8; prefix]).unwrap();
        std::fs::write(root.join("big"), &big).unwrap();
        nars.push(dump(&root));
        std::fs::remove_dir_all(root).unwrap();
    }
    let want: Vec<(usize, Option<[u8; 32]>)> =
        chunk_slice(&big, &config, Some(HashAlgorithm::Blake3))
            .iter()
            .map(|c| (c.length, c.hash))
            .collect();
    for nar in &nars {
        let offset = parse_all(nar, nar.len())
            .unwrap()
            .iter()
            .find_map(|e| match e {
                Event::File { path, offset, .. } if path == b"big" => Some(*offset),
                _ => None,
            })
            .unwrap();
        for piece in [nar.len(), 65_536, 1000] {
            let mut chunker =
                NarAwareChunker::new(config.clone(), Some(HashAlgorithm::Blake3), 1024);
            let mut chunks = Vec::new();
            for p in nar.chunks(piece) {
                chunker
                    .feed(p, |batch, _| chunks.extend_from_slice(batch.chunks()))
                    .unwrap();
            }
            chunker
                .finish(|batch, _| chunks.extend_from_slice(batch.chunks()))
                .unwrap();
            // Contiguous cover of the whole NAR...
            assert_eq!(chunks.iter().map(|c| c.length).sum::<usize>(), nar.len());
            // ...in which the big file's contents are exactly its stand-alone chunks.
            let inside: Vec<(usize, Option<[u8; 32]>)> = chunks
                .iter()
                .filter(|c| c.offset >= offset && c.end() <= offset + big.len() as u64)
                .map(|c| (c.length, c.hash))
                .collect();
            assert_eq!(inside, want, "piece {piece}");
        }
    }
}
