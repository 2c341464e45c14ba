//! RFC 4475 and RFC 5118 torture messages (`../shared/corpus/torture/`):
//! every valid one parses, validates and round-trips byte-exactly; every
//! invalid one is refused with a reason that says what is wrong, and the
//! refusals that are a UAS's business rather than the grammar's are marked
//! as such (the transaction layer answers them).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use quirkgate::lint::{lint, round_trips};
use quirkgate_core::msg::{validate, RejectionKind, SipMessage};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/torture")
}

fn files(verdict: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(corpus())
        .expect("../shared/corpus/torture is present beside the project")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(&format!(".{verdict}.sip")))
        .collect();
    files.sort();
    files
}

#[test]
fn every_valid_message_parses_validates_and_round_trips() {
    let valid = files("valid");
    assert_eq!(valid.len(), 38, "27 from RFC 4475 and 11 from RFC 5118");
    for path in valid {
        let bytes = std::fs::read(&path).unwrap();
        let msg = SipMessage::parse_datagram(Bytes::from(bytes.clone()))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(r) = validate(&msg) {
            panic!("{}: refused: {r}", path.display());
        }
        assert!(
            round_trips(&bytes, &msg),
            "{} does not round-trip",
            path.display()
        );
    }
}

#[test]
fn extra_octets_after_content_length_are_not_part_of_the_message() {
    // RFC 4475 §3.1.1.8 `dblreq`: the REGISTER ends at Content-Length: 0;
    // the INVITE-looking octets after it are discarded.
    let bytes = std::fs::read(corpus().join("dblreq.valid.sip")).unwrap();
    let msg = SipMessage::parse_datagram(Bytes::from(bytes.clone())).unwrap();
    let out = msg.to_bytes();
    assert!(out.ends_with(b"Content-Length: 0\r\n\r\n"));
    assert!(out.len() < bytes.len());
    assert_eq!(msg.method().unwrap().to_string(), "REGISTER");
}

/// (file, what the reason must say, syntax error or a UAS's rejection, status)
const INVALID: &[(&str, &str, Option<RejectionKind>, u16)] = {
    use RejectionKind::{Semantic, Syntax};
    &[
        ("badaspec", "To: whitespace inside <", Some(Syntax), 400),
        (
            "baddate",
            "Date: 'Fri, 01 Jan 2010 16:00:00 EST' is not an RFC 1123 date in GMT",
            Some(Syntax),
            400,
        ),
        (
            "baddn",
            "From: display name 'Bell, Alexander' must be quoted",
            Some(Syntax),
            400,
        ),
        ("badinv01", "Via: empty parameter", Some(Syntax), 400),
        (
            "badvers",
            "unsupported version 'SIP/7.0'",
            Some(Semantic),
            505,
        ),
        // Framing-level failures carry no kind: the message never parsed.
        (
            "bigcode",
            "status code '4294967301' is not three digits",
            None,
            400,
        ),
        ("clerr", "Content-Length: 9999 exceeds the", None, 400),
        (
            "escruri",
            "Request-URI must not carry URI headers",
            Some(Syntax),
            400,
        ),
        ("insuf", "missing From header", Some(Semantic), 400),
        ("ipv6-bad", "Request-URI: port 'db8::10'", Some(Syntax), 400),
        (
            "ltgtruri",
            "Request-URI: '<sip' is not a URI scheme",
            Some(Syntax),
            400,
        ),
        ("lwsruri", "LWS inside the Request-URI", None, 400),
        (
            "lwsstart",
            "more than one SP between method and Request-URI",
            None,
            400,
        ),
        (
            "mcl01",
            "Content-Length: conflicting values 13 and 5",
            None,
            400,
        ),
        (
            "mismatch01",
            "CSeq: method INVITE does not match the request method OPTIONS",
            Some(Semantic),
            400,
        ),
        (
            "mismatch02",
            "CSeq: method INVITE does not match the request method NEWMETHOD",
            Some(Semantic),
            400,
        ),
        ("multi01", "more than one CSeq header", Some(Semantic), 400),
        (
            "ncl",
            "Content-Length: not a decimal number ('-999')",
            None,
            400,
        ),
        (
            "quotbal",
            "To: display name: unterminated quoted string",
            Some(Syntax),
            400,
        ),
        ("regbadct", "must be enclosed in <>", Some(Syntax), 400),
        (
            "scalar02",
            "CSeq: sequence number is larger than 4294967295",
            Some(Syntax),
            400,
        ),
        (
            "scalarlg",
            "CSeq: sequence number is larger than 4294967295",
            Some(Syntax),
            400,
        ),
        ("trws", "found 'SIP/2.0  '", None, 400),
    ]
};

#[test]
fn every_invalid_message_is_refused_with_its_reason() {
    let invalid = files("invalid");
    assert_eq!(
        invalid.len(),
        INVALID.len(),
        "22 from RFC 4475 and 1 from RFC 5118"
    );
    for (name, reason, kind, status) in INVALID {
        let path = corpus().join(format!("{name}.invalid.sip"));
        let bytes = std::fs::read(&path).unwrap();
        let report = lint(&bytes);
        let said = report.verdict.clone().expect_err(name);
        assert!(said.contains(reason), "{name}: reason was '{said}'");
        assert_eq!(report.status, Some(*status), "{name}");
        let parsed = SipMessage::parse_datagram(Bytes::from(bytes.clone()));
        match kind {
            None => assert!(parsed.is_err(), "{name} should fail to parse"),
            Some(kind) => {
                let msg = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(validate(&msg).unwrap_err().kind, *kind, "{name}");
                // What parses also round-trips, so a refused message can
                // still be logged and replayed exactly as it came.
                assert!(round_trips(&bytes, &msg), "{name} does not round-trip");
            }
        }
    }
}
