//! The config loader (`Config::parse`: YAML, `${env:…}` expansion, every factory's body and
//! `validate()`, pipelines and cross-references) on arbitrary UTF-8. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_collector::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse("fuzz.yaml", text);
    }
});
