//! Fuzzes `document::parse` with the same bytes read as HCL and as JSON: it never panics,
//! and every refusal is a typed `PolicyError::Invalid` naming the file and a real line.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vaultgate::policy::document::{self, Format};
use vaultgate::policy::PolicyError;

fuzz_target!(|data: &[u8]| {
    // Policy files are read with `read_to_string`, so non-UTF-8 never reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = u32::try_from(text.lines().count().max(1)).unwrap_or(u32::MAX);
    for (file, format) in [("fuzz.hcl", Format::Hcl), ("fuzz.json", Format::Json)] {
        match document::parse(Path::new(file), text, format) {
            Ok(parsed) => {
                for rule in &parsed.rules {
                    assert!(
                        (1..=lines).contains(&rule.line),
                        "rule {:?} at line {} of a {lines}-line file",
                        rule.pattern,
                        rule.line
                    );
                    assert!(
                        !rule.pattern.contains("+*"),
                        "accepted forbidden pattern {:?}",
                        rule.pattern
                    );
                }
            }
            Err(PolicyError::Invalid { file: named, .. }) => {
                assert_eq!(named, Path::new(file), "error names another file");
            }
            Err(other) => panic!("parse returned a non-Invalid error: {other:?}"),
        }
    }
});
