//! [policy-authoring] `vaultgate policy check|explain|test` run as the security team runs
//! them: the real binary, from the repository root, on relative paths so output is stable.
//! No OpenBao is needed. Set `VAULTGATE_BLESS=1` to rewrite the golden files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn vaultgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(args)
        .current_dir(root())
        .env("VAULTGATE_LOG", "off")
        .output()
        .expect("vaultgate runs")
}

/// stdout and stderr together, as a reviewer sees them in a terminal.
fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn golden(name: &str, actual: &str) {
    let file = root().join("tests/golden").join(name);
    if std::env::var_os("VAULTGATE_BLESS").is_some() {
        std::fs::write(&file, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        actual,
        expected,
        "{} differs (VAULTGATE_BLESS=1 rewrites it)",
        file.display()
    );
}

#[test]
fn explain_matches_the_golden_output() {
    let cases = [
        (
            "explain-allow.txt",
            ["GET", "/v1/secret/data/acme/billing/db"],
        ),
        (
            "explain-deny-rule.txt",
            ["GET", "/v1/secret/data/acme/billing/admin"],
        ),
        (
            "explain-deny-default.txt",
            ["LIST", "secret/metadata/acme/shop?after=a"],
        ),
        (
            "explain-refuse.txt",
            ["GET", "/v1/secret/data/acme/billing/%2e%2e/admin"],
        ),
    ];
    for (file, [method, path]) in cases {
        let out = vaultgate(&[
            "policy",
            "explain",
            "--caller",
            "acme/billing",
            method,
            path,
        ]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        golden(file, &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn explain_json_carries_the_decision_and_the_rules() {
    let out = vaultgate(&[
        "policy",
        "explain",
        "--json",
        "--caller",
        "acme/billing",
        "--dir",
        "policies",
        "GET",
        "secret/data/acme/billing/admin?version=2",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"], "deny");
    assert_eq!(
        json["target"],
        "/v1/secret/data/acme/billing/admin?version=2"
    );
    assert_eq!(json["operation"]["verb"], "read");
    assert_eq!(
        json["operation"]["full_path"],
        "secret/data/acme/billing/admin"
    );
    assert_eq!(json["operation"]["params"], serde_json::json!(["version"]));
    assert_eq!(json["rule"]["file"], "policies/acme.hcl");
    assert_eq!(json["rule"]["line"], 37);
    assert_eq!(json["lost_on_priority"][0]["line"], 7);
    assert_eq!(
        json["reason"],
        "rule \"secret/data/acme/billing/admin\" at policies/acme.hcl:37 denies"
    );
}

#[test]
fn explain_takes_headers_and_a_body() {
    let body = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body.path(), r#"{"data": {"password": "x"}}"#).unwrap();
    let body = body.path().to_str().unwrap();
    let write = ["POST", "/v1/secret/data/acme/billing/db"];
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "policy",
            "explain",
            "--caller",
            "acme/billing",
            "--body",
            body,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&write);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| vaultgate(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let out = run(args(&[]));
    assert!(
        text(&out).contains("decision:         allow"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("params:           data"),
        "{}",
        text(&out)
    );

    let out = run(args(&["--header", "X-Vault-Wrap-TTL: 60"]));
    assert!(
        text(&out).contains("response wrapping not permitted"),
        "{}",
        text(&out)
    );

    let out = run(args(&[
        "--header",
        "Content-Type: application/ocsp-request",
    ]));
    assert!(
        text(&out).contains("decision:         refuse"),
        "{}",
        text(&out)
    );
}

/// One broken file per class of parse error: (class directory, file, line of the error).
const BROKEN: &[(&str, &str, u32)] = &[
    ("syntax", "acme.hcl", 4),
    ("json-syntax", "acme.json", 3),
    ("unknown-top-level-key", "acme.hcl", 5),
    ("unknown-key", "acme.hcl", 4),
    ("unsupported-key", "acme.hcl", 4),
    ("unknown-capability", "acme.hcl", 3),
    ("bad-legacy-policy", "acme.hcl", 3),
    ("plus-star", "acme.hcl", 2),
    ("bad-template", "acme.hcl", 2),
    ("bad-duration", "acme.hcl", 4),
    ("bad-expiration", "acme.hcl", 4),
    ("wrapping-bounds", "acme.hcl", 2),
    ("wrong-type", "acme.hcl", 3),
    ("expression", "acme.hcl", 3),
    ("missing-label", "acme.hcl", 2),
];

#[test]
fn check_fails_on_each_broken_file_naming_file_and_line() {
    for (class, file, line) in BROKEN {
        let dir = format!("tests/fixtures/policies-broken/{class}");
        let out = vaultgate(&["policy", "check", "--dir", &dir]);
        assert_eq!(code(&out), 1, "{class}: {}", text(&out));
        let location = format!("error: {dir}/{file}:{line}: ");
        assert!(
            text(&out).contains(&location),
            "{class}: want {location} in {}",
            text(&out)
        );
    }
}

#[test]
fn check_reports_every_broken_file_not_only_the_first() {
    // Each class directory reads as a tenant with one service file, so all are loaded at once.
    let out = vaultgate(&["policy", "check", "--dir", "tests/fixtures/policies-broken"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    for (class, file, line) in BROKEN {
        let location = format!("tests/fixtures/policies-broken/{class}/{file}:{line}: ");
        assert!(
            text(&out).contains(&location),
            "want {location} in {}",
            text(&out)
        );
    }
    let summary = format!("{0} policy file(s): {0} error(s)", BROKEN.len());
    assert!(text(&out).contains(&summary), "{}", text(&out));
}

/// One file per risky-grant class: (class directory, line, words the warning must contain).
const RISKY: &[(&str, u32, &str)] = &[
    ("auth-token", 2, "grants access to auth/token/"),
    ("sys-wrapping", 2, "grants access to sys/wrapping/"),
    ("cubbyhole", 2, "grants access to cubbyhole/"),
    ("sys", 2, "grants access to sys/ "),
    ("identity", 2, "grants access to identity/"),
    ("auth-login", 2, "grants access to auth/*/login"),
    ("wrapping-ttl", 2, "sets response-wrapping TTLs"),
    ("sudo", 2, "grants sudo"),
    ("mount-root-glob", 2, "glob at or near a mount root"),
    (
        "shadowed-deny",
        6,
        "this deny does not take effect on \"secret/data/acme/x/priv\"",
    ),
    ("literal-star", 2, "is a literal character, not a wildcard"),
    ("tenant-wide", 2, "in a tenant-wide file"),
    ("lease-calls", 2, "grants lease calls by path alone"),
];

#[test]
fn check_warns_on_each_risky_grant_and_fails_only_when_strict() {
    for (class, line, words) in RISKY {
        let dir = format!("tests/fixtures/policies-risky/{class}");
        let out = vaultgate(&["policy", "check", "--dir", &dir]);
        assert_eq!(code(&out), 0, "{class}: {}", text(&out));
        let warning = text(&out)
            .lines()
            .find(|l| {
                l.starts_with(&format!("warning: {dir}/acme.hcl:{line}: path \""))
                    && l.contains(words)
            })
            .map(str::to_owned);
        assert!(
            warning.is_some(),
            "{class}: want {words:?} at line {line} in {}",
            text(&out)
        );
        let strict = vaultgate(&["policy", "check", "--strict", "--dir", &dir]);
        assert_eq!(code(&strict), 1, "{class} --strict: {}", text(&strict));
    }
}

#[test]
fn shipped_policies_check_clean_even_when_strict() {
    let out = vaultgate(&["policy", "check", "--strict"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("0 error(s), 0 warning(s)"),
        "{}",
        text(&out)
    );
}

#[test]
fn shipped_policy_tests_pass() {
    let out = vaultgate(&["policy", "test", "--dir", "policies"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).ends_with(" passed, 0 failed\n"),
        "{}",
        text(&out)
    );
}

/// A copy of the shipped policies with `tests/<name>` holding `cases`.
fn policies_with_tests(name: &str, cases: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["acme.hcl", "globex.hcl"] {
        std::fs::copy(root().join("policies").join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests").join(name), cases).unwrap();
    dir
}

fn path_arg(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().to_path_buf()
}

#[test]
fn a_wrong_expectation_fails_with_the_explanation() {
    let dir = policies_with_tests(
        "wrong.toml",
        r#"
[[case]]
caller = "acme/billing"
method = "GET"
path = "/v1/secret/data/acme/billing/db"
expect = "allow"

[[case]]
name = "admin is readable (wrong)"
caller = "acme/billing"
method = "GET"
path = "/v1/secret/data/acme/billing/admin"
expect = "allow"
"#,
    );
    let out = vaultgate(&["policy", "test", "--dir", path_arg(&dir).to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let out = text(&out);
    assert!(out.contains("case 2 (admin is readable (wrong))"), "{out}");
    assert!(
        out.contains("expected allow, got deny: rule \"secret/data/acme/billing/admin\""),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}

#[test]
fn a_malformed_test_file_fails_naming_file_and_problem() {
    let cases = [
        ("typo.toml", "[[cases]]\ncaller = \"acme/billing\"\n", "unknown field `cases`"),
        (
            "expect.toml",
            "[[case]]\ncaller = \"acme/billing\"\nmethod = \"GET\"\npath = \"/v1/x\"\nexpect = \"maybe\"\n",
            "unknown variant `maybe`",
        ),
        (
            "caller.toml",
            "[[case]]\ncaller = \"acme\"\nmethod = \"GET\"\npath = \"/v1/x\"\nexpect = \"deny\"\n",
            "case 1: caller \"acme\" is not of the form <tenant>/<service>",
        ),
    ];
    for (name, content, problem) in cases {
        let dir = policies_with_tests(name, content);
        let out = vaultgate(&["policy", "test", "--dir", path_arg(&dir).to_str().unwrap()]);
        assert_eq!(code(&out), 1, "{name}: {}", text(&out));
        assert!(text(&out).contains(name), "{name}: {}", text(&out));
        assert!(text(&out).contains(problem), "{name}: {}", text(&out));
    }
}
