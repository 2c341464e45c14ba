//! The quirk catalogue is data that holds: every entry parses, its fix is
//! made of real keys with workable values, its profile applies that fix,
//! and its signature is found in the capture of the failure and (unless
//! the fix only works around it) not in the capture of the fix.

use std::path::Path;

use bytes::Bytes;
use quirkgate::catalogue::{self, Captured};
use quirkgate::config::profiles;
use quirkgate::config::quirks::QuirkSettings;
use quirkgate_core::msg::SipMessage;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn capture(path: &str) -> Vec<Captured> {
    let file = std::fs::File::open(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    quirkgate_trace::TraceReader::new(std::io::BufReader::new(file))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|p| {
            let msg = SipMessage::parse_datagram(Bytes::from(p.data.to_vec())).ok()?;
            Some(Captured {
                time: p.time_ns as f64 / 1e9,
                msg,
            })
        })
        .collect()
}

#[test]
fn every_entry_is_proven_by_its_captures() {
    for (name, text) in catalogue::BUILTIN {
        let entry = catalogue::load(name, text).unwrap();
        let without = capture(&entry.captures.without);
        let with = capture(&entry.captures.with);
        assert!(
            !without.is_empty() && !with.is_empty(),
            "{name}: empty capture"
        );
        assert!(
            entry.matches(&without),
            "{name}: the signature is not in {}",
            entry.captures.without
        );
        assert!(
            entry.symptom_remains || !entry.matches(&with),
            "{name}: the signature is still in {}",
            entry.captures.with
        );
    }
}

#[test]
fn every_fix_is_workable_and_its_profile_applies_it() {
    for (name, text) in catalogue::BUILTIN {
        let entry = catalogue::load(name, text).unwrap();
        let mut settings = QuirkSettings::defaults();
        settings.overlay(&entry.fix);
        if let Err(e) = settings.resolve() {
            panic!("{name}: fix.{}: {}", e.key, e.message);
        }
        assert!(!entry.fix.keys().is_empty(), "{name}: no fix");
        if let Some(profile) = &entry.profile {
            let resolved = profiles::resolve(Some(profile), None, root()).unwrap();
            let fix = toml::Table::try_from(&entry.fix).unwrap();
            let applied = toml::Table::try_from(&resolved.settings).unwrap();
            for (key, value) in &fix {
                assert!(
                    applied.get(key) == Some(value),
                    "{name}: profile {profile} sets {key} = {:?}, the fix {value}",
                    applied.get(key)
                );
            }
        }
    }
}

#[test]
fn every_catalogue_file_is_built_in_and_a_typo_is_refused() {
    for entry in std::fs::read_dir(root().join("quirks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                catalogue::BUILTIN.iter().any(|(n, _)| *n == stem),
                "quirks/{stem}.toml is not in catalogue::BUILTIN"
            );
        }
    }
    let typo = catalogue::BUILTIN[0]
        .1
        .replace("register_call_id", "register_callid");
    let err = catalogue::load("typo", &typo).unwrap_err();
    assert!(err.contains("unknown field `register_callid`"), "{err}");
}
