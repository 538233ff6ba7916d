#![no_main]

libfuzzer_sys::fuzz_target!(
    // libfuzzer-sys aborts on every panic through its hook, even one our code catches on purpose
    // (automerge's decoder and op import, see zoufang_shared::doc::sync); the default hook makes
    // those harmless, and a panic escaping the target still aborts (test_input_wrap).
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| zoufang_fuzzing::attachment_upload::run(data)
);
