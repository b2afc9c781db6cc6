#![no_main]
//! `lanner::fuzz::pod_json`: see there for the input and what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanner::fuzz::pod_json(data));
