#![no_main]
//! Fuzzes `art_host::fuzzing::project_toml`: any input must give Ok or a described error, never a
//! panic, a hang or unbounded memory.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = art_host::fuzzing::project_toml(data);
});
