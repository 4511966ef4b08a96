//! Reads HCL or JSON policy text into one small tree of literal values where every object key
//! carries its 1-based line, so both formats share one interpreter and one set of error lines.

use std::fmt;

use hcl::edit::expr::{Expression, Object, ObjectKey};
use hcl::edit::structure::{Body, Structure};
use hcl::edit::Span;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::policy::error::Problem;

/// A literal value from a policy file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Node>),
    /// Keys in document order, duplicates kept: a repeated `path` key must be merged like
    /// Vault does, never silently replaced (dropping a repeated `deny` would widen access).
    Object(Vec<Entry>),
}

/// One key of an object (or an HCL attribute or block label) and the line it is on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub line: u32,
    pub value: Node,
}

/// A problem found while reading the text, with its line.
pub(crate) type Located = (u32, Problem);

fn line_at(text: &str, offset: usize) -> u32 {
    let before = text.get(..offset).unwrap_or(text);
    let newlines = before.bytes().filter(|b| *b == b'\n').count();
    u32::try_from(newlines.saturating_add(1)).unwrap_or(u32::MAX)
}

fn span_line(text: &str, span: Option<std::ops::Range<usize>>) -> u32 {
    span.map_or(1, |range| line_at(text, range.start))
}

/// Parses HCL. Blocks become nested objects keyed by identifier then label, which is the shape
/// of the JSON form: `path "p" { .. }` reads like `{"path": {"p": {..}}}`.
pub(crate) fn parse_hcl(text: &str) -> Result<Node, Located> {
    super::depth::check(text)?;
    let body = hcl::edit::parser::parse_body(text).map_err(|err| {
        let line = u32::try_from(err.location().line()).unwrap_or(u32::MAX);
        (line, Problem::Syntax(err.message().to_owned()))
    })?;
    body_node(text, &body)
}

fn body_node(text: &str, body: &Body) -> Result<Node, Located> {
    let mut entries = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let line = span_line(text, attr.span());
                entries.push(Entry {
                    key: attr.key.as_str().to_owned(),
                    line,
                    value: expr_node(text, &attr.value, line)?,
                });
            }
            Structure::Block(block) => {
                let line = span_line(text, block.span());
                let ident = block.ident.as_str();
                let inner = body_node(text, &block.body)?;
                let value = match block.labels.as_slice() {
                    [label] => Node::Object(vec![Entry {
                        key: label.as_str().to_owned(),
                        line,
                        value: inner,
                    }]),
                    [] if ident != "path" => inner,
                    _ => return Err((line, Problem::Label)),
                };
                entries.push(Entry {
                    key: ident.to_owned(),
                    line,
                    value,
                });
            }
        }
    }
    Ok(Node::Object(entries))
}

fn expr_node(text: &str, expr: &Expression, line: u32) -> Result<Node, Located> {
    Ok(match expr {
        Expression::Null(_) => Node::Null,
        Expression::Bool(b) => Node::Bool(*b.value()),
        Expression::Number(n) => Node::Number(
            json_number(n.value())
                .ok_or((line, Problem::Syntax("number out of range".to_owned())))?,
        ),
        Expression::String(s) => Node::String(s.value().clone()),
        Expression::Array(items) => Node::Array(
            items
                .iter()
                .map(|item| expr_node(text, item, line))
                .collect::<Result<_, _>>()?,
        ),
        Expression::Object(object) => {
            if let Some(at) = dropped(text, object) {
                let key = text[at..].split(['=', ':']).next().unwrap_or_default();
                let key = key.trim().trim_matches('"').to_owned();
                return Err((line_at(text, at), Problem::RepeatedKey(key)));
            }
            let mut entries = Vec::new();
            for (key, value) in object.iter() {
                let (key, key_line) = match key {
                    ObjectKey::Ident(ident) => {
                        (ident.as_str().to_owned(), span_line(text, ident.span()))
                    }
                    ObjectKey::Expression(Expression::String(s)) => {
                        (s.value().clone(), span_line(text, s.span()))
                    }
                    ObjectKey::Expression(_) => return Err((line, Problem::Expression)),
                };
                entries.push(Entry {
                    key,
                    line: key_line,
                    value: expr_node(text, value.expr(), key_line)?,
                });
            }
            Node::Object(entries)
        }
        // Vault's policy language has no evaluation: anything computed is refused rather
        // than guessed at.
        _ => return Err((line, Problem::Expression)),
    })
}

/// Where the object's text holds an entry its parsed form lost, if it does: hcl-edit keeps
/// one entry per key (the last), where OpenBao's HCL reader joins a repeated key's lists, so
/// a repeated `denied_parameters` name would deny less here than there (found by the engines
/// differential test). Around the entries that were kept there may be only spaces, commas
/// and comments.
fn dropped(text: &str, object: &Object) -> Option<usize> {
    let span = object.span()?;
    let mut kept = Vec::new();
    for (key, value) in object.iter() {
        let key = match key {
            ObjectKey::Ident(ident) => ident.span(),
            ObjectKey::Expression(expr) => expr.span(),
        };
        kept.push((key?.start, value.expr().span()?.end));
    }
    kept.sort_unstable();
    let mut at = span.start + 1;
    let closing = span.end.saturating_sub(1);
    for (start, end) in kept.into_iter().chain([(closing, closing)]) {
        let gap = text.get(at..start)?;
        let filler = gap.len() - skip_filler(gap).len();
        if filler < gap.len() {
            return Some(at + filler);
        }
        at = end;
    }
    None
}

/// `text` after its leading spaces, commas and comments.
fn skip_filler(mut text: &str) -> &str {
    loop {
        text = text.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if text.starts_with('#') || text.starts_with("//") {
            text = text.split_once('\n').map_or("", |(_, rest)| rest);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, rest)| rest);
        } else {
            return text;
        }
    }
}

fn json_number(n: &hcl::Number) -> Option<serde_json::Number> {
    if let Some(u) = n.as_u64() {
        Some(u.into())
    } else if let Some(i) = n.as_i64() {
        Some(i.into())
    } else {
        n.as_f64().and_then(serde_json::Number::from_f64)
    }
}

/// Parses JSON, keeping duplicate keys, then gives every key the line of its token.
pub(crate) fn parse_json(text: &str) -> Result<Node, Located> {
    let mut node: Node = serde_json::from_str(text).map_err(|err| {
        let line = u32::try_from(err.line()).unwrap_or(u32::MAX).max(1);
        (line, Problem::Syntax(err.to_string()))
    })?;
    let lines = json_key_lines(text);
    let mut next = lines.into_iter();
    assign_lines(&mut node, &mut next);
    Ok(node)
}

/// Serde visits object keys in document order, and so does a pre-order walk of the tree:
/// the n-th key visited is the n-th key token in the text.
fn assign_lines(node: &mut Node, lines: &mut impl Iterator<Item = u32>) {
    match node {
        Node::Object(entries) => {
            for entry in entries {
                entry.line = lines.next().unwrap_or(1);
                assign_lines(&mut entry.value, lines);
            }
        }
        Node::Array(items) => {
            for item in items {
                assign_lines(item, lines);
            }
        }
        _ => {}
    }
}

/// The line of every object key in valid JSON text: a string token followed by `:`.
fn json_key_lines(text: &str) -> Vec<u32> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut line = 1u32;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line = line.saturating_add(1),
            b'"' => {
                let start_line = line;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    // Valid JSON strings hold no raw newline, so only escapes need care.
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.get(j) == Some(&b':') {
                    lines.push(start_line);
                }
            }
            _ => {}
        }
        i += 1;
    }
    lines
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        serde_json::Number::from_f64(v)
            .map(Node::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            entries.push(Entry {
                key,
                line: 1,
                value,
            });
        }
        Ok(Node::Object(entries))
    }
}
