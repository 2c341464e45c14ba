//! `quirkgate replay` and `diagnose` on real captures: every third-party
//! capture of the shared corpus reads and draws, every capture of ours
//! re-runs under its profile (snapshots, reviewed), diagnose names each
//! quirk from its capture, the re-run with the provider's model shows the
//! profile getting the flow through, and the HTML report opens in Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use quirkgate::capture::{self, Message};
use quirkgate::catalogue::{self, Entry};
use quirkgate::diagnose::diagnose;
use quirkgate::replay::rerun::{self, Leg, Options, Rerun};
use quirkgate::replay::{ladder, Grouper};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Vec<Message> {
    match rerun::read_all(path) {
        Ok((messages, None)) => messages,
        Ok((_, Some(e))) | Err(e) => panic!("{e}"),
    }
}

fn entries() -> Vec<(String, Entry)> {
    catalogue::BUILTIN
        .iter()
        .map(|(n, t)| (n.to_string(), catalogue::load(n, t).unwrap()))
        .collect()
}

/// The catalogue entry a capture of ours belongs to, and whether it is the
/// capture of the fix.
fn entry_of(capture: &Path) -> (String, Entry, bool) {
    let name = capture.file_name().unwrap().to_string_lossy().to_string();
    for (n, e) in entries() {
        let with = if e.captures.with.ends_with(&name) {
            true
        } else if e.captures.without.ends_with(&name) {
            false
        } else {
            continue;
        };
        return (n, e, with);
    }
    panic!("{name} belongs to no catalogue entry");
}

/// Ladders of every group, as `replay` prints them.
fn ladders(messages: Vec<Message>) -> Vec<String> {
    let mut grouper = Grouper::default();
    let mut out = Vec::new();
    for m in messages {
        out.extend(grouper.push(m).iter().map(|g| ladder::draw(g, false)));
    }
    out.extend(grouper.finish().iter().map(|g| ladder::draw(g, false)));
    out
}

#[test]
fn every_shared_capture_reads_and_draws() {
    insta::glob!("../../shared/corpus/pcaps", "*.{pcap,pcapng,cap}", |path| {
        let (messages, _) = capture::open(path).unwrap();
        let mut messages = messages;
        let read: Vec<Message> = messages
            .by_ref()
            .map(|m| m.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .collect();
        let summary = messages.summary().clone();
        let ladders = ladders(read.clone());
        let mut report = format!(
            "{} packets, {} SIP messages, {} unparsed, {} groups\n",
            summary.packets,
            summary.messages,
            summary.unparsed,
            ladders.len()
        );
        // Every message is in exactly one ladder row.
        let rows: usize = ladders
            .iter()
            .map(|l| l.lines().filter(|r| r.contains(" #")).count())
            .sum();
        assert_eq!(rows, read.len(), "{}", path.display());
        // The first three ladders show the drawing; the rest only counts.
        for l in ladders.iter().take(3) {
            report.push('\n');
            report.push_str(l);
        }
        insta::assert_snapshot!(report);
    });
}

/// The model, profile and options an entry's captures re-run with.
fn options_for(entry: &Entry, name: &str, profile: Option<&str>) -> Options {
    Options {
        profile: profile
            .map(str::to_string)
            .or_else(|| entry.profile.clone())
            .unwrap_or_else(|| "rfc3261".into()),
        provider: None,
        model: entry
            .model
            .iter()
            .map(|r| (name.to_string(), r.clone()))
            .collect(),
        base: root().to_path_buf(),
    }
}

/// The run as the snapshot shows it: the text report, then each message
/// the gateway sent the provider in full. Ids come from the core's fixed
/// seed, so they are the same on every run.
fn snapshot_text(run: &Rerun) -> String {
    let mut out = rerun::render(run);
    for (i, s) in run.steps.iter().enumerate() {
        if s.sent && s.leg == Leg::Provider {
            out.push_str(&format!(
                "\n--- step {} ({:.3} s), gateway to provider\n{}",
                i + 1,
                (s.time_ns - run.steps[0].time_ns) as f64 / 1e9,
                String::from_utf8_lossy(&s.msg.to_bytes()).replace("\r\n", "\n")
            ));
        }
    }
    out
}

#[test]
fn every_capture_of_ours_reruns_under_its_profile() {
    insta::glob!("../captures", "*.pcap", |path| {
        let (name, entry, _) = entry_of(path);
        let messages = read(path);
        let drawn = ladders(messages.clone());
        assert!(!drawn.is_empty(), "{}: no ladder", path.display());
        let run = rerun::rerun(&messages, &options_for(&entry, &name, None)).unwrap();
        assert!(!run.steps.is_empty(), "{}", path.display());
        insta::assert_snapshot!(snapshot_text(&run));
    });
}

#[test]
fn diagnose_names_the_quirk_of_each_capture() {
    for (name, entry) in entries() {
        let without = read(&root().join(&entry.captures.without));
        let found: Vec<String> = diagnose(&without).into_iter().map(|f| f.name).collect();
        assert!(
            found.contains(&name),
            "{name}: diagnose found {found:?} in {}",
            entry.captures.without
        );
        let with = read(&root().join(&entry.captures.with));
        let found: Vec<String> = diagnose(&with).into_iter().map(|f| f.name).collect();
        assert!(
            entry.symptom_remains || !found.contains(&name),
            "{name}: still found in {}",
            entry.captures.with
        );
    }
    // The six quirks of the mission are named alone: their symptoms are not
    // mistaken for another quirk's.
    for name in [
        "register-call-id",
        "prack-405",
        "user-phone-required",
        "tel-uri-only",
        "channel-limit",
        "never-answers",
    ] {
        let path = root().join(format!("captures/{name}-without.pcap"));
        let found: Vec<String> = diagnose(&read(&path)).into_iter().map(|f| f.name).collect();
        assert_eq!(found, vec![name.to_string()], "{}", path.display());
    }
}

fn outcome(name: &str, profile: &str) -> Rerun {
    let entry = entries().into_iter().find(|(n, _)| n == name).unwrap().1;
    let path = root().join(&entry.captures.without);
    rerun::rerun(&read(&path), &options_for(&entry, name, Some(profile))).unwrap()
}

#[test]
fn the_provider_model_shows_each_profile_getting_the_flow_through() {
    for (name, profile) in [
        ("register-call-id", "fresh-register-call-id"),
        ("prack-405", "no-prack"),
        ("user-phone-required", "ims-user-phone"),
        ("tel-uri-only", "pstn-tel-uri"),
        ("number-format-e164", "china-mobile-ims"),
        ("session-timer-421", "session-timer-required"),
        ("pai", "china-mobile-ims"),
    ] {
        let fixed = outcome(name, profile);
        let broken = outcome(name, "rfc3261");
        let ok = |r: &Rerun| {
            r.outcome
                .iter()
                .all(|o| o.contains("(answered)") || o.contains("(registered)"))
        };
        assert!(ok(&fixed), "{name} under {profile}: {:?}", fixed.outcome);
        assert!(!ok(&broken), "{name} under rfc3261: {:?}", broken.outcome);
    }
}

#[test]
fn the_rerun_puts_each_change_down_to_its_key() {
    let run = outcome("register-call-id", "fresh-register-call-id");
    let changes: Vec<_> = run.steps.iter().flat_map(|s| &s.changes).collect();
    assert!(
        changes
            .iter()
            .any(|c| c.line.starts_with("Call-ID") && c.cause == ["register_call_id"]),
        "{changes:?}"
    );
    let run = outcome("prack-405", "no-prack");
    let changes: Vec<_> = run.steps.iter().flat_map(|s| &s.changes).collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].sign, changes[0].line.as_str()),
        ('-', "Supported: 100rel")
    );
    assert_eq!(changes[0].cause, ["100rel"]);
}

#[test]
fn a_call_cap_keeps_the_third_call_from_the_provider() {
    let provider_invites = |r: &Rerun| {
        r.steps
            .iter()
            .filter(|s| s.sent && s.leg == Leg::Provider && s.note != "sent again")
            .filter(|s| s.msg.method().is_some_and(|m| m.as_bytes() == b"INVITE"))
            .count()
    };
    let capped = outcome("channel-limit", "two-channel-trunk");
    let open = outcome("channel-limit", "rfc3261");
    assert_eq!(provider_invites(&capped), 2, "{}", rerun::render(&capped));
    assert_eq!(provider_invites(&open), 4, "{}", rerun::render(&open));
}

#[test]
fn a_no_answer_timer_cancels_a_provider_that_rings_forever() {
    let dir = tempdir("no-answer");
    let profile = dir.join("one-second.toml");
    std::fs::write(
        &profile,
        "description = \"no-answer-60s, shortened for the test\"\nextends = \"no-answer-60s\"\n\
         [quirks]\nno_answer_timeout = 1\n",
    )
    .unwrap();
    let run = outcome("never-answers", profile.to_str().unwrap());
    let phone_final = |r: &Rerun| {
        r.steps
            .iter()
            .filter(|s| s.sent && s.leg == Leg::Phone)
            .filter_map(|s| s.msg.status())
            .find(|s| *s >= 300)
    };
    let cancel = run
        .steps
        .iter()
        .find(|s| s.sent && s.msg.method().is_some_and(|m| m.as_bytes() == b"CANCEL"))
        .expect("the gateway cancels");
    let waited = (cancel.time_ns - run.steps[0].time_ns) as f64 / 1e9;
    assert!((1.0..1.1).contains(&waited), "cancelled after {waited} s");
    assert_eq!(phone_final(&run), Some(480), "{}", rerun::render(&run));
    // Without the timer the phone gives up itself, as in the capture.
    let run = outcome("never-answers", "rfc3261");
    assert_eq!(phone_final(&run), Some(487), "{}", rerun::render(&run));
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quirkgate-replay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn quirkgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quirkgate"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn diagnose_exit_status_tells_whether_a_quirk_was_found() {
    let found = quirkgate(&["diagnose", "captures/register-call-id-without.pcap"]);
    let text = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(0), "{text}");
    assert!(
        text.contains("register_call_id = \"per-request\""),
        "{text}"
    );
    assert!(
        text.contains("P-Registrar-Error: Invalid CSeq number"),
        "{text}"
    );
    let none = quirkgate(&["diagnose", "captures/register-call-id-with.pcap"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stdout).contains("No known quirk matches"));
    let junk = tempdir("diagnose").join("junk.bin");
    std::fs::write(&junk, [0u8, 159, 146, 150]).unwrap();
    let unreadable = quirkgate(&["diagnose", junk.to_str().unwrap()]);
    assert_eq!(unreadable.status.code(), Some(2));
}

#[test]
fn a_truncated_capture_names_the_packet_and_keeps_what_was_read() {
    let dir = tempdir("truncated");
    let path = root().join("captures/channel-limit-without.pcap");
    let last = read(&path).len();
    let whole = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &whole[..whole.len() - 40]).unwrap();
    let out = quirkgate(&["replay", cut.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("packet {last}: capture file ends inside a record")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("#{}", last - 1)),
        "the packets before it are drawn: {stdout}"
    );
    // diagnose and the re-run use what was read, and say so.
    let out = quirkgate(&["diagnose", cut.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("(using the {} messages before it)", last - 1)),
        "{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the calls over the cap are read"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("channel-limit"));
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    let out = quirkgate(&["replay", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("packet 1: neither a pcap"));
}

/// A text trace written from a pcap reads back as the same messages.
#[test]
fn text_traces_read_like_the_capture_they_were_written_from() {
    let pcap = read(&root().join("captures/prack-405-with.pcap"));
    let mut text = String::from("# written by tests/replay.rs\n");
    for m in &pcap {
        let secs = m.time_ns / 1_000_000_000;
        let (day, rest) = (secs / 86_400, secs % 86_400);
        assert_eq!(day, pcap[0].time_ns / 1_000_000_000 / 86_400, "one day");
        text.push_str(&format!(
            "2026/11/23 {:02}:{:02}:{:02}.{:06} UDP {} -> {}\n{}\n",
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            m.time_ns % 1_000_000_000 / 1000,
            m.src,
            m.dst,
            String::from_utf8_lossy(&m.msg.to_bytes()).replace("\r\n", "\n")
        ));
    }
    let path = tempdir("text").join("trace.txt");
    std::fs::write(&path, &text).unwrap();
    let back = read(&path);
    assert_eq!(back.len(), pcap.len());
    for (a, b) in back.iter().zip(&pcap) {
        assert_eq!((a.src, a.dst), (b.src, b.dst));
        assert_eq!(a.msg.to_bytes(), b.msg.to_bytes(), "message {}", a.number);
        assert_eq!(
            a.time_ns % 86_400_000_000_000 / 1000,
            b.time_ns % 86_400_000_000_000 / 1000
        );
    }
}

/// The HTML report in headless Chromium: the page's script runs to its
/// end, a message opens from the address, and a screenshot is taken.
#[test]
fn the_html_report_opens_in_headless_chromium() {
    let dir = tempdir("html");
    let page = dir.join("report.html");
    let out = quirkgate(&[
        "replay",
        "captures/register-call-id-without.pcap",
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chromium = |extra: &[&str], url: &str| {
        let profile = dir.join("chromium-profile");
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.display()),
            ])
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium is installed by scripts/test")
    };
    // The registrar's 400, the capture's last message.
    let last = read(&root().join("captures/register-call-id-without.pcap")).len();
    let url = format!("file://{}#m-{last}", page.display());
    let dom = chromium(&["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-ready=\"true\""),
        "the script did not finish: {dom}"
    );
    let detail = dom
        .split("id=\"detail\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_default();
    assert!(
        detail.contains("SIP/2.0 400 Bad Request") && detail.contains("P-Registrar-Error"),
        "message {last} is not shown: {detail}"
    );
    let shot = root().join("target/replay-report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,800",
        ],
        &url,
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
