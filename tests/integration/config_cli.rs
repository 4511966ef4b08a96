//! [onboarding] `vaultgate config check` as a newcomer meets it: broken files get every
//! problem at once, each with file, line, key and what is wrong (golden files in
//! tests/golden/config-*.txt), and the shipped example says what the demo creates.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `vaultgate config check FILE` run inside the fixture folder, so paths print relative.
fn check(file: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["config", "check", file])
        .current_dir(repo().join("tests/fixtures/config-broken"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "config check wrote to stderr: {stderr}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn each_broken_config_gets_its_golden_message() {
    for (fixture, golden) in [
        ("unknown-key.toml", "config-unknown-key.txt"),
        ("missing-file.toml", "config-missing-file.txt"),
        ("fractional-duration.toml", "config-fractional-duration.txt"),
        ("bad-duration.toml", "config-bad-duration.txt"),
        ("two-problems.toml", "config-two-problems.txt"),
        ("nope.toml", "config-unreadable.txt"),
    ] {
        let (ok, out) = check(fixture);
        assert!(!ok, "{fixture} was accepted:\n{out}");
        let want = std::fs::read_to_string(repo().join("tests/golden").join(golden)).unwrap();
        assert_eq!(
            out, want,
            "{fixture}: output differs from tests/golden/{golden}"
        );
        for internal in [
            "RawDuration",
            "untagged",
            "usize",
            "struct ",
            "os error 2): ",
        ] {
            assert!(!out.contains(internal), "{fixture}: {internal:?} in\n{out}");
        }
    }
}

#[test]
fn every_problem_names_file_line_and_key() {
    for fixture in [
        "unknown-key.toml",
        "missing-file.toml",
        "fractional-duration.toml",
        "bad-duration.toml",
        "two-problems.toml",
    ] {
        let (_, out) = check(fixture);
        let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
        assert!(!errors.is_empty(), "{out}");
        for line in errors {
            let rest = line
                .strip_prefix(&format!("error: {fixture}:"))
                .unwrap_or_else(|| {
                    panic!("{line:?} does not start with the file and a line number")
                });
            let (number, rest) = rest.split_once(": ").unwrap();
            assert!(number.parse::<usize>().is_ok(), "{line}");
            let (key, problem) = rest.split_once(": ").unwrap();
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._[]".contains(c)),
                "{line}: {key:?} is not a key"
            );
            assert!(problem.len() > 10, "{line}");
        }
    }
    let (_, two) = check("two-problems.toml");
    assert!(two.ends_with("two-problems.toml: 2 problems\n"), "{two}");
}

#[test]
fn the_base_of_the_broken_files_checks_clean() {
    let (ok, out) = check("good.toml");
    assert!(ok, "{out}");
    assert!(
        out.contains("good.toml: ok (1 listener(s), 1 service(s)"),
        "{out}"
    );
}

#[test]
fn the_shipped_example_in_a_fresh_clone_names_what_the_demo_creates() {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["config", "check", "examples/vaultgate.toml"])
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    for want in [
        "listener[0].tls_cert: file examples/certs/localhost.pem does not exist",
        "service[1].secret_id_file: file examples/secrets/globex-ledger/secret_id does not exist",
        "policies.dir: directory examples/policies does not exist",
        "examples/vaultgate.toml: 8 problems",
        "`vaultgate certs init --dir examples/certs",
        "scripts/demo.sh lays it out in .demo/",
        "vaultgate config check .demo/vaultgate.toml",
    ] {
        assert!(text.contains(want), "lacks {want:?}:\n{text}");
    }
}
