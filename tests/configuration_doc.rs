//! `docs/configuration.md` lists every key of the configuration schema, and
//! its example is a valid configuration.

use std::path::Path;

use quirkgate::config::{schema_keys, Config};

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"))
        .unwrap()
}

#[test]
fn every_schema_key_is_documented() {
    let doc = doc();
    let keys = schema_keys();
    assert!(keys.len() > 50, "the schema was read: {keys:?}");
    // A table is documented by its heading (`[sip]`, `[[user]]`), a key by
    // its dotted path.
    let documented = |k: &String| {
        doc.contains(&format!("`{k}`"))
            || doc.contains(&format!("`[{k}]`"))
            || doc.contains(&format!("`[[{k}]]`"))
    };
    // Quirk keys (`line.quirks.100rel`) are documented in docs/quirks.md,
    // which tests/quirks_doc.rs checks.
    let quirk_key = |k: &String| k.starts_with("line.quirks.") || k.starts_with("trunk.quirks.");
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !quirk_key(k) && !documented(k))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}

#[test]
fn the_documented_example_is_valid() {
    let doc = doc();
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    if let Err(e) = Config::parse(example, Path::new("docs/configuration.md example")) {
        panic!("{e}");
    }
}
