//! Topology files (JSON and CSV) from the operator API, the console and the CLI: any
//! input is either a valid change set or a list of problems, never a panic.
#![no_main]

use candor_app::topology_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = topology_file::parse("fuzz.csv", text, |_| {});
    let _ = topology_file::parse("fuzz.json", text, |_| {});
});
