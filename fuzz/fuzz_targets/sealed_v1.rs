#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropbox_post_fuzzing::sealed_v1(data));
