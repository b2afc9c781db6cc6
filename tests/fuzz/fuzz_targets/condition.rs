#![no_main]
//! `lanner::fuzz::condition`: see there for the input and what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanner::fuzz::condition(data));
