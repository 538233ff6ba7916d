#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoufang_fuzzing::inflate::run(data));
