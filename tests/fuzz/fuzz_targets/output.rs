#![no_main]
//! `lanner::fuzz::output`: see there for the input and what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanner::fuzz::output(data));
