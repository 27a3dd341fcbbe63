#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imia_fuzz::checks::path_patterns(data));
