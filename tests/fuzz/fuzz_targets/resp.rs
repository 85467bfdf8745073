#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| synod::fuzzing::resp(data));
