//! narinfo parsing: any text is a NarInfo or an error; a parsed one writes out text that
//! parses back to the same NarInfo, and its fingerprint is an error or a string, never a panic.
#![no_main]

use chunker_core::nix::narinfo::NarInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = NarInfo::parse(text) {
        let again = NarInfo::parse(&info.to_text()).expect("written narinfo parses");
        assert_eq!(again, info);
        let _ = info.fingerprint();
        let _ = info.store_dir();
    }
});
