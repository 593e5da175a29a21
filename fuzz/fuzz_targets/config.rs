#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropbox_post_fuzzing::config(data));
