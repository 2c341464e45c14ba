//! Odd-but-real messages from other SIP stacks' test suites
//! (`../shared/corpus/messages/`). The verdict of `lint` on each is a
//! reviewed snapshot: a change in what the gateway accepts shows up in review.

use std::path::Path;

#[test]
fn lint_verdicts_on_other_stacks_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/messages");
    let mut lines = Vec::new();
    for stack in ["kamailio", "pjsip", "resiprocate", "sofia-sip"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(stack))
            .expect("../shared/corpus/messages is present beside the project")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e != "body"))
            .collect();
        files.sort();
        for path in files {
            let report = quirkgate::lint::lint(&std::fs::read(&path).unwrap());
            // A message that parses must come back byte for byte, valid or not.
            assert_ne!(report.round_trips, Some(false), "{}", path.display());
            lines.push(format!(
                "{stack}/{}: {report}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    insta::assert_snapshot!(lines.join("\n"));
}
