#![no_main]
//! Fuzzes `art_host::fuzzing::check_expr`: any input must give Ok or a described error, never a
//! panic, a hang or unbounded memory.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = art_host::fuzzing::check_expr(data);
});
