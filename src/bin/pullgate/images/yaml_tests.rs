use super::*;

/// The scalar at `path` (keys, or `#n` for a sequence item) of a document.
fn at<'a>(node: &'a Node, path: &[&str]) -> &'a Scalar {
    let mut node = node;
    for step in path {
        node = match (step.strip_prefix('#'), node) {
            (Some(n), Node::Seq(items)) => &items[n.parse::<usize>().unwrap()],
            _ => node.get(step).unwrap_or_else(|| panic!("no {step} in {node:?}")),
        };
    }
    match node {
        Node::Scalar(s) => s,
        other => panic!("not a scalar: {other:?}"),
    }
}

#[test]
fn scalar_spans_are_byte_ranges_of_their_text() {
    let text = "# ünïcode comment\na: plain\nb: 'single'\nc: \"double\"\nd:\n  - é: x\n    f: y:1 # after\n\
                g: 'it''s'  # c\nh: \"a\\\"b\"   # c\n";
    let docs = parse(text).unwrap();
    let doc = docs[0].as_ref().unwrap();
    for (path, written, style) in [
        (&["a"][..], "plain", Style::Plain),
        (&["b"][..], "'single'", Style::SingleQuoted),
        (&["c"][..], "\"double\"", Style::DoubleQuoted),
        (&["d", "#0", "é"][..], "x", Style::Plain),
        (&["d", "#0", "f"][..], "y:1", Style::Plain),
        (&["g"][..], "'it''s'", Style::SingleQuoted),
        (&["h"][..], "\"a\\\"b\"", Style::DoubleQuoted),
    ] {
        let s = at(doc, path);
        assert_eq!((&text[s.span.clone()], s.style), (written, style), "{path:?}");
    }
}

#[test]
fn documents_of_a_stream_are_kept_apart_and_in_order() {
    let text = "---\nkind: A\n---\n# only a comment\n---\nkind: B\n...\n";
    let docs = parse(text).unwrap();
    let kinds: Vec<Option<String>> =
        docs.iter().map(|d| d.as_ref().and_then(|d| d.scalar("kind")).map(|s| s.value.clone())).collect();
    assert_eq!(kinds, vec![Some("A".into()), None, Some("B".into())]);
}

#[test]
fn edits_change_only_their_bytes() {
    let text = "a:   \"x\"   # keep me\nb: [1, 2]\nc: 'y'\nd: z\n";
    let doc = parse(text).unwrap().remove(0).unwrap();
    let edits = vec![
        replace_scalar(text, at(&doc, &["d"]), "new/d:1").unwrap(),
        replace_scalar(text, at(&doc, &["a"]), "new-a").unwrap(),
        replace_scalar(text, at(&doc, &["c"]), "n@sha256:00").unwrap(),
    ];
    let out = apply(text, edits).unwrap();
    assert_eq!(out, "a:   \"new-a\"   # keep me\nb: [1, 2]\nc: 'n@sha256:00'\nd: new/d:1\n");
    assert_eq!(parse(&out).unwrap().len(), 1);
}

#[test]
fn scalars_not_written_as_their_value_are_not_rewritten() {
    for text in ["a: \"x\\u0041\"\n", "a: 'it''s'\n", "a: |\n  x\n", "a: >\n  x\n", "a: \"x\n  y\"\n", "a: x\n  y\n"] {
        let doc = parse(text).unwrap().remove(0).unwrap();
        let s = at(&doc, &["a"]);
        assert_eq!(replace_scalar(text, s, "z"), None, "{text:?}");
    }
    // Nor is a value that would need quoting or escaping.
    let doc = parse("a: x\n").unwrap().remove(0).unwrap();
    assert_eq!(replace_scalar("a: x\n", at(&doc, &["a"]), "x # y"), None);
}

#[test]
fn overlapping_edits_are_refused() {
    let edits = vec![Edit { range: 0..3, text: "x".into() }, Edit { range: 2..4, text: "y".into() }];
    assert!(apply("abcdef", edits).is_err());
    assert!(apply("abc", vec![Edit { range: 2..9, text: "x".into() }]).is_err());
    assert_eq!(apply("abc", vec![Edit { range: 3..3, text: "d".into() }]).unwrap(), "abcd");
}

#[test]
fn aliases_complex_keys_and_bad_yaml() {
    let doc = parse("base: &b x\nuse: *b\n? [k]\n: v\n").unwrap().remove(0).unwrap();
    assert_eq!(doc.get("use"), Some(&Node::Alias));
    let Node::Map(entries) = &doc else { panic!("{doc:?}") };
    assert!(entries[2].0.is_none());
    for bad in ["a: [1, 2\n", "a: 'x\n", "a: b: c\n"] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
}

#[test]
fn line_helpers() {
    let text = "a:\n  - b: c\n";
    let at_b = text.find("b:").unwrap();
    assert_eq!(line_prefix(text, at_b), "  - ");
    assert_eq!(line_end(text, at_b), text.len() - 1);
    assert_eq!(line_end("x", 0), 1);
}
