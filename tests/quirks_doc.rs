//! `docs/quirks.md` documents every quirk key and no key that does not
//! exist; `docs/configuration.md` covers every other key of the schema.

use std::path::Path;

use quirkgate::config::quirks::QuirkSettings;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/quirks.md")).unwrap()
}

#[test]
fn every_quirk_key_is_documented_and_every_documented_key_exists() {
    let doc = doc();
    let keys = QuirkSettings::all_keys();
    assert!(keys.len() >= 27, "{keys:?}");
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("| `{k}` |")))
        .collect();
    assert!(missing.is_empty(), "docs/quirks.md lacks {missing:?}");
    // Every key row of the key tables names a real key.
    let section = doc.split("## The keys").nth(1).unwrap();
    let section = section.split("## The catalogue").next().unwrap();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let key = row[3..].split('`').next().unwrap();
        let base = key.split('.').next().unwrap();
        assert!(
            keys.iter().any(|k| k == base),
            "docs/quirks.md documents an unknown key `{key}`"
        );
    }
}
