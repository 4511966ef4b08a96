//! A bound on how deep an HCL policy file nests, checked before the text reaches hcl-edit:
//! its parser recurses once per level (brackets, braces, parentheses, binary and conditional
//! operators, template interpolation) with no limit of its own, so a file of a few kilobytes
//! such as `name = [[[[…` overflowed the stack and aborted the whole process (found by the
//! `policy_parse` fuzz target). Vault policies nest three or four levels and use no
//! operators, interpolation or heredocs, so the bounds refuse nothing a policy needs.

use super::syntax::Located;
use crate::policy::error::Problem;

/// Open brackets, braces and parentheses at once, outside strings and comments.
const MAX_DEPTH: usize = 32;
/// Operator characters outside strings and comments (each binary operator is a level).
const MAX_OPERATORS: usize = 64;

fn refuse(line: u32, what: &str) -> Located {
    (line, Problem::Syntax(what.to_owned()))
}

/// Scans `text` as HCL's lexer would for strings and comments, and refuses what could nest
/// deeper than the parser can safely recurse.
pub(super) fn check(text: &str) -> Result<(), Located> {
    let bytes = text.as_bytes();
    let (mut depth, mut operators, mut line) = (0usize, 0usize, 1u32);
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let (b, next) = (bytes[i], bytes.get(i + 1).copied());
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match (b, next) {
                (b'\\', Some(escaped)) => {
                    line += u32::from(escaped == b'\n');
                    i += 1;
                }
                (b'"', _) => in_string = false,
                (b'$' | b'%', Some(b'{')) => {
                    return Err(refuse(
                        line,
                        "template interpolation (${…} or %{…}) is not supported in policy files",
                    ));
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match (b, next) {
            (b'"', _) => in_string = true,
            (b'#', _) | (b'/', Some(b'/')) => {
                while i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    line += u32::from(bytes[i] == b'\n');
                    i += 1;
                }
                i += 1;
            }
            (b'<', Some(b'<')) => {
                return Err(refuse(
                    line,
                    "heredoc strings are not supported in policy files",
                ));
            }
            (b'[' | b'{' | b'(', _) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(refuse(
                        line,
                        &format!("nested more than {MAX_DEPTH} levels deep"),
                    ));
                }
            }
            (b']' | b'}' | b')', _) => depth = depth.saturating_sub(1),
            (b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' | b'&' | b'|' | b'?' | b'!', _) => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(refuse(
                        line,
                        &format!("more than {MAX_OPERATORS} operators outside strings"),
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_pass_and_deep_or_templated_text_is_refused_with_its_line() {
        let policy =
            "# a comment with [[[[ and \"quotes\n/* [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ */\n\
            path \"secret/+/data/{{tenant}}/*\" {\n  capabilities = [\"read\", \"list\"]\n  \
            allowed_parameters = { \"k\" = [\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"] }\n}\n";
        assert_eq!(check(policy), Ok(()));
        let deep = format!("name = {}", "[".repeat(1000));
        assert_eq!(check(&deep).unwrap_err().0, 1);
        let chain = format!("\n\nname = 1{}", " + 1".repeat(100));
        assert_eq!(check(&chain).unwrap_err().0, 3);
        assert!(check("name = \"${[[[[]]]]}\"").is_err());
        assert!(check("name = <<EOF\n[[[\nEOF\n").is_err());
        let blocks = format!("{}{}", "a {\n".repeat(40), "}\n".repeat(40));
        assert_eq!(check(&blocks).unwrap_err().0, 33);
    }
}
