//! [onboarding] One command-line shape: the policy commands find policies the same way
//! (`--dir`, `--config`), `--log-format` is explained once at the top, and completions and
//! the man page come from the same clap definitions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vaultgate_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(args)
        .current_dir(dir)
        .env_remove("VAULTGATE_LOG_FORMAT")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_policy_commands_take_the_directory_and_the_config_the_same_way() {
    let outside = tempfile::tempdir().unwrap();
    let config = repo().join("tests/fixtures/config-broken/good.toml");
    let config = config.to_str().unwrap();
    let policies = repo().join("policies");
    let policies = policies.to_str().unwrap();
    let explain = [
        "--caller",
        "acme/billing",
        "GET",
        "secret/data/acme/billing/db",
    ];
    for (command, extra) in [
        ("check", &[][..]),
        ("test", &[][..]),
        ("explain", &explain[..]),
    ] {
        let with = |source: &[&str]| {
            let mut args = vec!["policy", command];
            args.extend_from_slice(source);
            args.extend_from_slice(extra);
            vaultgate_in(outside.path(), &args)
        };
        let by_dir = with(&["--dir", policies]);
        // The fixture config's [policies] dir holds no tests/: `test` fails there, naming it.
        let by_config = with(&["--config", config]);
        let none = with(&[]);
        match command {
            "test" => {
                assert!(by_dir.status.success(), "{}", text(&by_dir));
                assert!(
                    text(&by_config).contains("config-broken/policies/tests"),
                    "{}",
                    text(&by_config)
                );
            }
            _ => {
                assert!(by_dir.status.success(), "{command}: {}", text(&by_dir));
                assert!(
                    by_config.status.success(),
                    "{command}: {}",
                    text(&by_config)
                );
            }
        }
        assert!(!none.status.success());
        assert!(
            text(&none).contains("no policies directory here; pass --dir DIR"),
            "{command} outside the repository: {}",
            text(&none)
        );
        let both = with(&["--dir", policies, "--config", config]);
        assert!(
            text(&both).contains("cannot be used with"),
            "{command}: {}",
            text(&both)
        );
    }
    // The directory as a bare argument, as earlier releases took it, still works.
    let legacy = vaultgate_in(&repo(), &["policy", "check", "policies"]);
    assert!(legacy.status.success(), "{}", text(&legacy));
}

#[test]
fn a_config_naming_no_policy_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vaultgate.toml"),
        "[vault]\naddress = \"x\"\n",
    )
    .unwrap();
    let out = vaultgate_in(
        dir.path(),
        &["policy", "check", "--config", "vaultgate.toml"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("vaultgate.toml: policies.dir: required"),
        "{}",
        text(&out)
    );
}

#[test]
fn log_format_is_explained_once_at_the_top() {
    let top = text(&vaultgate_in(&repo(), &["--help"]));
    assert!(top.contains("one JSON object per"), "{top}");
    for sub in [
        &["run", "--help"][..],
        &["policy", "check", "--help"],
        &["config", "check", "--help"],
    ] {
        let help = text(&vaultgate_in(&repo(), sub));
        let lines: Vec<&str> = help.lines().filter(|l| l.contains("log")).collect();
        assert_eq!(lines.len(), 1, "{sub:?}: {help}");
        assert!(
            lines[0].contains("see `vaultgate --help`"),
            "{sub:?}: {help}"
        );
    }
    // Accepted after the subcommand too, as the demo and compose stack write it.
    let out = vaultgate_in(
        &repo(),
        &[
            "policy",
            "check",
            "--dir",
            "policies",
            "--log-format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// Runs bash's own completion machinery on the generated script: the function `complete`
/// registered, called as bash calls it after TAB.
fn complete_in_bash(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let probe = format!(
        "source '{}'\nfn=$(complete -p vaultgate | sed -E 's/.*-F ([^ ]+).*/\\1/')\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\"$fn\" vaultgate \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_completes_subcommands_and_their_options() {
    let out = vaultgate_in(&repo(), &["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("vaultgate.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax));

    let top = complete_in_bash(&script, &["vaultgate", ""]);
    for sub in [
        "run",
        "config",
        "certs",
        "verify",
        "policy",
        "completions",
        "man",
    ] {
        assert!(top.iter().any(|w| w == sub), "{sub} not offered: {top:?}");
    }
    let policy = complete_in_bash(&script, &["vaultgate", "policy", ""]);
    for sub in ["check", "explain", "test"] {
        assert!(
            policy.iter().any(|w| w == sub),
            "{sub} not offered: {policy:?}"
        );
    }
    let options = complete_in_bash(&script, &["vaultgate", "policy", "check", "--"]);
    for option in ["--dir", "--config", "--strict"] {
        assert!(options.iter().any(|w| w == option), "{option}: {options:?}");
    }
    assert!(!options.iter().any(|w| w == "--legacy-dir"), "{options:?}");
}

#[test]
fn zsh_and_fish_completions_and_the_man_page_cover_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let out = vaultgate_in(&repo(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for sub in ["run", "config", "policy", "explain", "completions"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    let out = vaultgate_in(&repo(), &["man"]);
    assert!(out.status.success(), "{}", text(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH vaultgate 1"), "{page}");
    for section in [
        ".SH \"VAULTGATE RUN\"",
        ".SH \"VAULTGATE CONFIG CHECK\"",
        ".SH \"VAULTGATE POLICY EXPLAIN\"",
        ".SH \"VAULTGATE COMPLETIONS\"",
    ] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    assert!(
        page.contains("VAULTGATE_LOG filters"),
        "the Logs text is in the page"
    );
}

#[test]
fn io_errors_name_the_path_and_the_reason_once() {
    let outside = tempfile::tempdir().unwrap();
    for args in [
        &["policy", "check", "--dir", "nope"][..],
        &[
            "policy", "explain", "--dir", "nope", "--caller", "a/b", "GET", "x",
        ],
        &["run", "--config", "nope.toml"],
        &["config", "check", "nope.toml"],
    ] {
        let out = text(&vaultgate_in(outside.path(), args));
        assert_eq!(
            out.matches("No such file or directory").count(),
            1,
            "{args:?}: {out}"
        );
        assert!(out.contains("nope"), "{args:?}: {out}");
    }
}
