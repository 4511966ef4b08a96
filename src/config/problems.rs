//! Everything wrong with one configuration file, found in one pass: each problem names the
//! key and, where that key (or the nearest table around it) is in the file, its line.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use super::raw::keys_of;

/// One thing wrong in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `vault.address`, `listener[0].tls_cert`, ...
    pub key: String,
    /// 1-based line of the key, or of the table it belongs in when the key is missing.
    pub line: Option<usize>,
    pub message: String,
    /// The file or directory the key names, when the problem is that it does not exist.
    pub missing: Option<PathBuf>,
}

impl Problem {
    /// `file:line: key: message`, the form every editor jumps to.
    pub fn located(&self, file: &Path) -> String {
        match self.line {
            Some(line) => format!("{}:{line}: {self}", file.display()),
            None => format!("{}: {self}", file.display()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The problems found so far, in file order once [`Problems::into_sorted`] is called.
pub(super) struct Problems<'a> {
    found: RefCell<Vec<Problem>>,
    document: Option<toml_edit::ImDocument<&'a str>>,
    text: &'a str,
}

impl<'a> Problems<'a> {
    pub fn new(text: &'a str) -> Problems<'a> {
        Problems {
            found: RefCell::new(Vec::new()),
            document: toml_edit::ImDocument::parse(text).ok(),
            text,
        }
    }

    pub fn add(&self, key: String, message: String, missing: Option<PathBuf>) {
        let line = self.line_of(&key);
        self.found.borrow_mut().push(Problem {
            key,
            line,
            message,
            missing,
        });
    }

    /// A key serde found no field for.
    pub fn unknown_key(&self, key: String) {
        let message = unknown_key_message(&key);
        self.add(key, message, None);
    }

    pub fn is_empty(&self) -> bool {
        self.found.borrow().is_empty()
    }

    pub fn into_sorted(self) -> Vec<Problem> {
        let mut found = self.found.into_inner();
        // Stable: problems on one line keep the order they were found in.
        found.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        found
    }

    /// The line of `key` (`a.b[1].c`), or of the nearest table around it that is written.
    fn line_of(&self, key: &str) -> Option<usize> {
        let document = self.document.as_ref()?;
        let mut item = document.as_item();
        let mut span = None;
        for segment in key.split('.') {
            let (name, index) = match segment.split_once('[') {
                Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (segment, None),
            };
            let Some(next) = item.get(name) else { break };
            item = next;
            span = item.span().or(span);
            if let Some(i) = index {
                let Some(next) = item.get(i) else { break };
                item = next;
                span = item.span().or(span);
            }
        }
        let start = span?.start;
        Some(self.text.get(..start)?.matches('\n').count() + 1)
    }
}

/// One problem on one line, several as a list under a count.
pub(super) fn render(file: &Path, problems: &[Problem]) -> String {
    match problems {
        [one] => one.located(file),
        many => {
            let mut out = format!("{} problems in {}:", many.len(), file.display());
            for p in many {
                out.push_str("\n  ");
                out.push_str(&p.located(file));
            }
            out
        }
    }
}

/// `a.b[0].c` from the path serde_ignored reports for a key nothing took.
pub(super) fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => {
            let parent = key_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_path(parent),
    }
}

/// "unknown key", with the likely intended key or else the keys the table takes.
fn unknown_key_message(key: &str) -> String {
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    let section: String = section
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s))
        .collect::<Vec<_>>()
        .join(".");
    let keys = keys_of(&section);
    let table = if section.is_empty() {
        "the top level".to_owned()
    } else {
        format!("[{section}]")
    };
    if let Some(close) = keys.iter().find(|k| edit_distance(k, name) <= 2) {
        return format!("unknown key; did you mean `{close}`?");
    }
    if keys.is_empty() {
        return "unknown key".to_owned();
    }
    format!("unknown key; the keys of {table} are {}", keys.join(", "))
}

/// Levenshtein distance, for "did you mean": keys are short, so the plain table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_point_at_the_key_or_its_table() {
        let text = "[vault]\naddress = \"x\"\n\n[[listener]]\naddress = \"a\"\n\n[[listener]]\nunix = \"s\"\n";
        let problems = Problems::new(text);
        assert_eq!(problems.line_of("vault.address"), Some(2));
        assert_eq!(problems.line_of("listener[1].unix"), Some(8));
        assert_eq!(problems.line_of("listener[1].tls_cert"), Some(7));
        assert_eq!(problems.line_of("vault.timeout"), Some(1));
        assert_eq!(problems.line_of("policies.dir"), None);
    }

    #[test]
    fn unknown_keys_suggest_the_near_one_or_list_the_table() {
        assert_eq!(
            unknown_key_message("vault.adress"),
            "unknown key; did you mean `address`?"
        );
        assert_eq!(
            unknown_key_message("cache.path[0].bogus"),
            "unknown key; the keys of [cache.path] are pattern, ttl, stale_if_error"
        );
        assert!(unknown_key_message("frobnicate")
            .contains("the keys of the top level are vault, listener"));
    }
}
