#![no_main]
//! `lanner::fuzz::rules_file`: see there for the input and what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanner::fuzz::rules_file(data));
