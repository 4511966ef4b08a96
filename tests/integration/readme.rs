//! [onboarding] The README runs as copied: every `sh`/`bash` block, every `console` block
//! (each `$ command` run, the lines shown under it expected in its output, in order) and the
//! `python` block, in README order, in one shell, against the stack `scripts/demo.sh --keep`
//! leaves running, from a workspace laid out like the repository. A block whose first line is
//! `# untested: <reason>` is skipped, visibly; that list is printed and kept short.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::openbao::bao_binary;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    body: Vec<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in readme.lines().enumerate() {
        let fence = line.trim_start();
        if let Some(block) = open.as_mut() {
            if fence.starts_with("```") {
                out.extend(open.take());
            } else {
                block.body.push(line.to_owned());
            }
        } else if let Some(lang) = fence.strip_prefix("```") {
            open = Some(Block {
                line: i + 1,
                lang: lang.trim().to_owned(),
                body: Vec::new(),
            });
        }
    }
    // Blocks inside list items are indented: drop the indent they share.
    for block in &mut out {
        let indent = block
            .body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        for l in &mut block.body {
            *l = l.get(indent..).unwrap_or("").to_owned();
        }
    }
    out
}

/// The reason after `# untested:` on a block's first line.
fn untested(block: &Block) -> Option<&str> {
    block
        .body
        .first()?
        .trim()
        .strip_prefix("# untested:")
        .map(str::trim)
}

/// A console block's commands, each with the output lines shown under it.
fn commands(block: &Block) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in &block.body {
        if let Some(command) = line.strip_prefix("$ ") {
            out.push((command.to_owned(), Vec::new()));
        } else if let Some((_, shown)) = out.last_mut() {
            if !line.trim().is_empty() {
                shown.push(line.trim().to_owned());
            }
        }
    }
    out
}

/// A temporary folder of links to the repository's entries, so the README's relative paths
/// (`scripts/`, `policies/`, `.demo/`) work and the demo's `.demo/` is this test's own.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".demo" || name == ".git" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), dir.path().join(&name)).unwrap();
    }
    dir
}

/// Stops whatever `scripts/demo.sh --keep` left running, even when the test fails.
struct StopDemo<'a>(&'a Path);

impl Drop for StopDemo<'_> {
    fn drop(&mut self) {
        let _ = Command::new("scripts/demo.sh")
            .arg("--stop")
            .current_dir(self.0)
            .output();
    }
}

#[test]
fn every_readme_shell_block_runs_as_copied() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks = blocks(&readme);
    let ws = workspace();
    let outputs = ws.path().join(".readme-outputs");
    std::fs::create_dir(&outputs).unwrap();
    let _stop = StopDemo(ws.path());

    let mut script = String::from("set -eo pipefail\n");
    let mut skipped = Vec::new();
    let mut expectations = Vec::new();
    let mut ran = 0;
    for block in &blocks {
        let lang = block.lang.as_str();
        if !matches!(lang, "sh" | "bash" | "console" | "python") {
            continue;
        }
        if let Some(reason) = untested(block) {
            assert!(
                !reason.is_empty(),
                "README.md:{}: untested without a reason",
                block.line
            );
            skipped.push(format!("README.md:{}: {reason}", block.line));
            continue;
        }
        ran += 1;
        writeln!(script, "echo '>>> README.md:{} ({lang})'", block.line).unwrap();
        match lang {
            "console" => {
                for (i, (command, shown)) in commands(block).into_iter().enumerate() {
                    let file = outputs.join(format!("{}-{i}.txt", block.line));
                    writeln!(script, "echo '$ {}'", command.replace('\'', "'\\''")).unwrap();
                    // Shown output is the check; the exit status may be a refusal on purpose.
                    writeln!(
                        script,
                        "{{ {command}\n}} >'{}' 2>&1 || true",
                        file.display()
                    )
                    .unwrap();
                    writeln!(script, "cat '{}'", file.display()).unwrap();
                    expectations.push((block.line, command, shown, file));
                }
            }
            "python" => {
                writeln!(
                    script,
                    "python3 - <<'PYTHON'\n{}\nPYTHON",
                    block.body.join("\n")
                )
                .unwrap();
            }
            _ => {
                writeln!(script, "{}", block.body.join("\n")).unwrap();
            }
        }
    }
    eprintln!(
        "{ran} README blocks run; not run by this test:\n  {}",
        skipped.join("\n  ")
    );
    assert!(ran >= 8, "only {ran} README blocks ran");
    assert!(
        skipped.len() <= 5,
        "keep the untested list short: {skipped:#?}"
    );

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_vaultgate"));
    let bao = bao_binary();
    let path = format!(
        "{}:{}:{}",
        // Where `cargo install` would have put it, as the README's first step does.
        bin.parent().unwrap().display(),
        bao.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(ws.path())
        .env("PATH", path)
        .env("VAULTGATE_BIN", &bin)
        .env("PYTHONPATH", repo().join(".tools/python"))
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let last_block = text
        .lines()
        .rfind(|l| l.starts_with(">>> "))
        .unwrap_or(">>> (none)");
    assert!(
        out.status.success(),
        "a README block failed; the last one started was {last_block}:\n{text}"
    );
    for (line, command, shown, file) in expectations {
        let got = std::fs::read_to_string(&file).unwrap();
        let mut rest = got.lines();
        for want in shown.iter().filter(|w| w.as_str() != "...") {
            assert!(
                rest.any(|l| l.contains(want.as_str())),
                "README.md:{line}: `{command}` should show {want:?} (in order); it printed:\n{got}"
            );
        }
    }
}
