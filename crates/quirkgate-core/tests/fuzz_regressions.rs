//! Replays the fuzz target's invariants on the stable toolchain: over every
//! input the fuzzer once found breaking them (`fuzz/regressions/`), and over
//! the shared torture and fixture corpus.

// Tests read the shared corpus from disk; the I/O ban is for the library.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

fn replay_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_file() && path.extension().is_none_or(|e| e != "md") {
            quirkgate_core::fuzzing::check(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn regressions_and_shared_corpus_keep_the_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regressions = replay_dir(&root.join("../../fuzz/regressions"));
    let shared = root.join("../../../shared/corpus");
    let corpus: usize = [
        "torture",
        "messages/kamailio",
        "messages/sofia-sip",
        "messages/pjsip",
        "messages/resiprocate",
    ]
    .iter()
    .map(|d| replay_dir(&shared.join(d)))
    .sum();
    assert!(corpus > 100, "the shared corpus was read ({corpus} files)");
    eprintln!("checked {regressions} regression inputs and {corpus} corpus files");
}
