#![no_main]
//! `lanner::fuzz::decode`: see there for the input and what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanner::fuzz::decode(data));
