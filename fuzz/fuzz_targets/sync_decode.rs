#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoufang_fuzzing::sync_decode::run(data));
