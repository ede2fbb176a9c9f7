use super::*;
use crate::images::fixtures::{self, OPEN};

fn entry(name: &str, new_name: &str) -> Entry {
    Entry { name: name.into(), new_name: new_name.into() }
}

#[test]
fn entries_are_one_per_name_and_skip_listed_names() {
    let pairs = vec![
        ("a/x".to_string(), "e/l/a/x".to_string()),
        ("b/y".to_string(), "e/l/b/y".to_string()),
        ("a/x".to_string(), "e/l/a/x".to_string()),
    ];
    assert_eq!(entries(&pairs, &["b/y".to_string()]), vec![entry("a/x", "e/l/a/x")]);
    assert_eq!(
        new_kustomization(&[entry("a/x", "e/l/a/x")]),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: a/x\n  newName: e/l/a/x\n"
    );
}

#[test]
fn a_kustomization_is_extended_in_its_own_layout() {
    let add = [entry("q/z", "e/l/q/z")];
    let fixture = fixtures::load("kustomization.yaml");
    let cases = [
        // After the last entry, at the list's indentation.
        (
            fixture.clone(),
            fixture.replace("    newTag: \"1.25\"\n", "    newTag: \"1.25\"\n  - name: q/z\n    newName: e/l/q/z\n"),
        ),
        // A list at column 0, a file without a final newline, a following key.
        (
            "images:\n- name: a\n  newTag: x\nresources: []".to_string(),
            "images:\n- name: a\n  newTag: x\n- name: q/z\n  newName: e/l/q/z\nresources: []".to_string(),
        ),
        (
            "kind: Kustomization\nimages:\n  - name: a".to_string(),
            "kind: Kustomization\nimages:\n  - name: a\n  - name: q/z\n    newName: e/l/q/z\n".to_string(),
        ),
        // No images: yet.
        (
            "kind: Kustomization".to_string(),
            "kind: Kustomization\nimages:\n- name: q/z\n  newName: e/l/q/z\n".to_string(),
        ),
    ];
    for (source, want) in cases {
        let doc = crate::images::yaml::parse(&source).unwrap().remove(0).unwrap();
        let edit = extend(&source, &doc, &add).unwrap().unwrap();
        assert_eq!(crate::images::yaml::apply(&source, vec![edit]).unwrap(), want, "{source:?}");
    }
    let doc = crate::images::yaml::parse(&fixture).unwrap().remove(0).unwrap();
    assert_eq!(existing_names(&doc), vec![format!("{OPEN}/demo/hello"), "worker".into(), "nginx".into()]);
    assert_eq!(extend(&fixture, &doc, &[]).unwrap(), None);
    for odd in ["images: []\n", "images:\n", "images: [{name: a}]\n"] {
        let doc = crate::images::yaml::parse(odd).unwrap().remove(0).unwrap();
        assert!(extend(odd, &doc, &add).is_err(), "{odd:?}");
    }
}
