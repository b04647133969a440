//! Fuzz target `parse_nmap`: the harness lives in src/lib.rs, shared with the regression replay
//! (tests/fuzz_regressions.rs in the root package).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| picket_fuzz::parse_nmap(data));
