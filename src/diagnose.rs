//! `quirkgate diagnose`: which known provider quirks a capture shows, with
//! the messages that show it and the profile keys that fix it.

use std::fmt::Write;

use crate::capture::Message;
use crate::catalogue::{self, Captured, Entry};

/// One catalogue entry a capture matches.
pub struct Finding {
    pub name: String,
    pub entry: Entry,
    /// Per signature step: the message, and the lines of it that show the
    /// step.
    pub evidence: Vec<(Message, Vec<String>)>,
}

/// Matches every catalogue entry against the capture.
pub fn diagnose(messages: &[Message]) -> Vec<Finding> {
    let captured: Vec<Captured> = messages
        .iter()
        .map(|m| Captured {
            time: m.time_ns as f64 / 1e9,
            msg: m.msg.clone(),
        })
        .collect();
    let mut findings = Vec::new();
    for (name, text) in catalogue::BUILTIN {
        let Ok(entry) = catalogue::load(name, text) else {
            continue; // tests/catalogue.rs keeps every entry loadable
        };
        if let Some(found) = entry.find(&captured) {
            let evidence = found
                .iter()
                .zip(&entry.signature)
                .map(|(&i, step)| (messages[i].clone(), step.evidence(&messages[i].msg)))
                .collect();
            findings.push(Finding {
                name: name.to_string(),
                entry,
                evidence,
            });
        }
    }
    findings
}

/// The fix as profile lines (`key = value`).
pub fn fix_lines(entry: &Entry) -> Vec<String> {
    let table = toml::Table::try_from(&entry.fix).unwrap_or_default();
    table
        .iter()
        .map(|(k, v)| format!("{} = {v}", crate::config::profiles::key_text(k)))
        .collect()
}

/// The findings as a report for a person.
pub fn report(findings: &[Finding], messages: usize) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        let _ = writeln!(
            out,
            "No known quirk matches the {messages} SIP messages of this capture."
        );
        return out;
    }
    let t0 = findings
        .iter()
        .flat_map(|f| f.evidence.iter().map(|(m, _)| m.time_ns))
        .min()
        .unwrap_or(0);
    for f in findings {
        let _ = writeln!(out, "{}: {}", f.name, f.entry.title);
        let _ = writeln!(out, "  symptom: {}", f.entry.symptom);
        let _ = writeln!(out, "  evidence:");
        for (m, lines) in &f.evidence {
            let _ = writeln!(
                out,
                "    #{} (packet {}, {:.3} s, {} -> {})",
                m.number,
                m.packet,
                crate::replay::seconds_since(m.time_ns, t0),
                m.src,
                m.dst
            );
            for line in lines {
                let _ = writeln!(out, "        {}", crate::replay::printable(line));
            }
        }
        match &f.entry.profile {
            Some(p) => {
                let _ = writeln!(out, "  fix (built-in profile {p}, or these keys):");
            }
            None => {
                let _ = writeln!(out, "  fix:");
            }
        }
        for line in fix_lines(&f.entry) {
            let _ = writeln!(out, "    {line}");
        }
        if f.entry.symptom_remains {
            let _ = writeln!(
                out,
                "  (the fix works around the symptom: it still shows with the fix)"
            );
        }
        out.push('\n');
    }
    out
}
