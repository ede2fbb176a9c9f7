//! YAML read without losing it: each document becomes a small tree whose scalars keep their
//! byte range in the original text, and edits replace or insert at byte offsets, so comments,
//! key order, quoting and layout outside the edited scalars stay exactly as written.
//!
//! Parsing is saphyr-parser's (a YAML 1.2 event parser that reports a span per event); this
//! module only assembles the events into maps and sequences.

use std::fmt;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deeper nesting than this is refused, so walking a tree can never exhaust the stack.
const MAX_DEPTH: usize = 200;

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>`: never rewritten.
    Block,
}

/// A scalar's value and where its text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub value: String,
    /// Byte range of the scalar's text, quotes included.
    pub span: Range<usize>,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    /// Entries in document order; keys that are not scalars are `None`.
    Map(Vec<(Option<Scalar>, Node)>),
    Seq(Vec<Node>),
    /// `*anchor`: what it points at is not followed (an edit there would change every user).
    Alias,
}

impl Node {
    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => {
                entries.iter().find(|(k, _)| k.as_ref().is_some_and(|k| k.value == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The scalar under `key` of a map.
    pub fn scalar(&self, key: &str) -> Option<&Scalar> {
        match self.get(key) {
            Some(Node::Scalar(s)) => Some(s),
            _ => None,
        }
    }

    /// The key scalar of `key` in a map (for inserting a sibling next to it).
    pub fn key(&self, key: &str) -> Option<&Scalar> {
        match self {
            Node::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_ref()).find(|k| k.value == key),
            _ => None,
        }
    }

    /// The byte offset just past the last scalar inside this node, if it has any.
    pub fn end(&self) -> Option<usize> {
        match self {
            Node::Scalar(s) => Some(s.span.end),
            Node::Map(entries) => {
                entries.iter().flat_map(|(k, v)| [k.as_ref().map(|k| k.span.end), v.end()]).flatten().max()
            }
            Node::Seq(items) => items.iter().filter_map(Node::end).max(),
            Node::Alias => None,
        }
    }
}

/// Why a text is not YAML we can edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A container being filled while its events arrive.
enum Open {
    Map { entries: Vec<(Option<Scalar>, Node)>, key: Option<Option<Scalar>> },
    Seq(Vec<Node>),
}

/// Byte offsets of each character (saphyr's markers count characters), plus the end.
fn char_offsets(text: &str) -> Vec<usize> {
    text.char_indices().map(|(b, _)| b).chain(std::iter::once(text.len())).collect()
}

/// The end of the quoted scalar opening at `start`: just past its closing quote. saphyr's end
/// marker for a quoted scalar can lie past blanks and a comment that follow it.
fn closing_quote(text: &str, start: usize, end: usize) -> usize {
    let Some(body) = text.get(start..end) else { return end };
    let mut chars = body.char_indices();
    let Some((_, quote)) = chars.next() else { return end };
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            ('"', '\\') => {
                chars.next();
            }
            ('"', '"') => return start + at + 1,
            ('\'', '\'') => {
                // `''` is an escaped quote inside a single-quoted scalar.
                if body.get(at + 1..).is_some_and(|rest| rest.starts_with('\'')) {
                    chars.next();
                } else {
                    return start + at + 1;
                }
            }
            _ => {}
        }
    }
    end
}

/// Every document of a (multi-document) YAML stream, in order; empty documents are `None`.
pub fn parse(text: &str) -> Result<Vec<Option<Node>>, YamlError> {
    let offsets = char_offsets(text);
    let byte = |index: usize| offsets.get(index).copied().unwrap_or(text.len());
    let mut documents = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    for event in Parser::new_from_str(text) {
        let (event, span): (Event, Span) =
            event.map_err(|e| YamlError { line: e.marker().line(), message: e.info().to_string() })?;
        let done = match event {
            Event::DocumentStart(_) => {
                root = None;
                None
            }
            Event::DocumentEnd => {
                documents.push(root.take());
                None
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        line: span.start.line(),
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                }
                stack.push(match event {
                    Event::MappingStart(..) => Open::Map { entries: Vec::new(), key: None },
                    _ => Open::Seq(Vec::new()),
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Open::Map { entries, .. }) => Some(Node::Map(entries)),
                Some(Open::Seq(items)) => Some(Node::Seq(items)),
                None => None,
            },
            Event::Scalar(value, style, _, _) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    _ => Style::Block,
                };
                let (start, end) = (byte(span.start.index()), byte(span.end.index()));
                let end = match style {
                    Style::SingleQuoted | Style::DoubleQuoted => closing_quote(text, start, end),
                    _ => end,
                };
                Some(Node::Scalar(Scalar { value: value.into_owned(), span: start..end, style }))
            }
            Event::Alias(_) => Some(Node::Alias),
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(Open::Seq(items)) => items.push(node),
                Some(Open::Map { entries, key }) => match key.take() {
                    Some(k) => entries.push((k, node)),
                    None => {
                        *key = Some(match node {
                            Node::Scalar(s) => Some(s),
                            _ => None,
                        })
                    }
                },
                None => root = Some(node),
            }
        }
    }
    Ok(documents)
}

/// One change to the text: `range` (empty for an insertion) becomes `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: Range<usize>,
    pub text: String,
}

/// The text a scalar's bytes become to hold `value` in the scalar's own style, or `None` when
/// the scalar is not written as its plain value (escapes, folded lines, block style): those
/// are not rewritten rather than risk changing what the document means.
pub fn replace_scalar(source: &str, scalar: &Scalar, value: &str) -> Option<Edit> {
    let written = source.get(scalar.span.clone())?;
    let (expected, text) = match scalar.style {
        Style::Plain => (scalar.value.clone(), value.to_string()),
        Style::SingleQuoted => (format!("'{}'", scalar.value), format!("'{value}'")),
        Style::DoubleQuoted => (format!("\"{}\"", scalar.value), format!("\"{value}\"")),
        Style::Block => return None,
    };
    // Image names are [a-z0-9._/:@-]: safe in every style, with nothing to escape.
    let safe = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:@-".contains(&b));
    (written == expected && safe).then(|| Edit { range: scalar.span.clone(), text })
}

/// Applies non-overlapping edits.
pub fn apply(source: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    for edit in &edits {
        if edit.range.start < at || edit.range.end > source.len() {
            return Err(format!("overlapping edits at byte {}", edit.range.start));
        }
        let kept = source.get(at..edit.range.start).ok_or("an edit is not on a character boundary")?;
        out.push_str(kept);
        out.push_str(&edit.text);
        at = edit.range.end;
    }
    out.push_str(source.get(at..).ok_or("an edit is not on a character boundary")?);
    Ok(out)
}

/// The text of the line holding `offset`, up to `offset` (what indents what follows).
pub fn line_prefix(source: &str, offset: usize) -> &str {
    let head = source.get(..offset).unwrap_or("");
    let start = head.rfind('\n').map_or(0, |n| n + 1);
    head.get(start..).unwrap_or("")
}

/// The offset of the end of the line holding `offset` (its `\n`, or the end of the text).
pub fn line_end(source: &str, offset: usize) -> usize {
    source.get(offset..).and_then(|rest| rest.find('\n')).map_or(source.len(), |n| offset + n)
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
