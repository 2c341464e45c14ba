//! The `replay` and `diagnose` commands: reading a capture with a progress
//! bar, then drawing it, matching it, or re-running it.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use super::html::HtmlReport;
use super::rerun::{self, Options};
use super::{ladder, Filter, Group, Grouper};
use crate::capture::{self, CaptureError, Message, Summary};
use crate::catalogue;
use crate::diagnose;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Ladders for the terminal.
    Text,
    /// One self-contained page with SVG ladders; click an arrow for its message.
    Html,
    /// One JSON object per group (JSON Lines).
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A pcap, pcapng or NetMon capture, or a text trace.
    pub capture: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write here instead of to standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Only the group with this Call-ID.
    #[arg(long)]
    pub call_id: Option<String>,
    /// Only groups with a message to or from this IP or IP:PORT.
    #[arg(long)]
    pub host: Option<String>,
    /// Only groups with a request of this method.
    #[arg(long)]
    pub method: Option<String>,
    /// Re-run the capture's conversation with its provider through the
    /// gateway under this profile (a built-in name or a path).
    #[arg(long)]
    pub profile: Option<String>,
    /// With --profile: let provider models answer instead of the capture:
    /// a catalogue entry's name, or none for the entries `diagnose` finds.
    #[arg(long, num_args = 0..=1, default_missing_value = "", requires = "profile")]
    pub provider_model: Option<String>,
    /// With --profile: the provider's address (default: where the first
    /// request went).
    #[arg(long, requires = "profile")]
    pub provider: Option<SocketAddr>,
}

/// A progress bar on a terminal for files worth waiting for.
fn progress(path: &Path, read: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Progress {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let bar = if std::io::stderr().is_terminal() && size > 8 << 20 {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    Progress { bar, read }
}

struct Progress {
    bar: indicatif::ProgressBar,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Progress {
    fn tick(&self, messages: usize) {
        if messages % 1024 == 0 {
            self.bar.set_position(self.read.load(Ordering::Relaxed));
            self.bar.set_message(format!("{messages} messages"));
        }
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("quirkgate: {e}");
    ExitCode::from(2)
}

fn summary_note(path: &Path, summary: &Summary) -> String {
    let mut note = format!(
        "{}: {} packets, {} SIP messages",
        path.display(),
        summary.packets,
        summary.messages
    );
    if let Some((packet, why)) = &summary.first_unparsed {
        note.push_str(&format!(
            "; {} looked like SIP but did not parse (first: packet {packet}: {why})",
            summary.unparsed
        ));
    }
    note
}

pub fn replay(args: ReplayArgs) -> ExitCode {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => return fail(format!("cannot write {}: {e}", path.display())),
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let result = if args.profile.is_some() {
        rerun_command(&args, out)
    } else {
        draw(&args, out)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Streams the capture into groups and draws each as it completes.
fn draw(args: &ReplayArgs, out: Box<dyn Write>) -> Result<(), String> {
    let (messages, read) = capture::open(&args.capture).map_err(|e| at(&args.capture, e))?;
    let progress = progress(&args.capture, read);
    let filter = Filter {
        call_id: args.call_id.clone(),
        host: args.host.clone(),
        method: args.method.clone(),
    };
    let colour = args.output.is_none() && std::io::stdout().is_terminal();
    let mut sink = Sink::new(args.format, out, &args.capture, colour).map_err(io)?;
    let mut grouper = Grouper::default();
    let mut messages = messages;
    let mut error = None;
    for m in messages.by_ref() {
        match m {
            Ok(m) => {
                progress.tick(m.number);
                for g in grouper.push(m) {
                    sink.group(&g, &filter).map_err(io)?;
                }
            }
            Err(e) => error = Some(e),
        }
    }
    for g in grouper.finish() {
        sink.group(&g, &filter).map_err(io)?;
    }
    progress.bar.finish_and_clear();
    let note = summary_note(&args.capture, messages.summary());
    sink.finish(&note).map_err(io)?;
    match error {
        // What was read is drawn; the error still fails the command.
        Some(e) => Err(at(&args.capture, e)),
        None => Ok(()),
    }
}

fn at(path: &Path, e: CaptureError) -> String {
    format!("{}: {e}", path.display())
}

fn io(e: std::io::Error) -> String {
    format!("cannot write the report: {e}")
}

/// Where drawn groups go, per format.
enum Sink {
    Text(Box<dyn Write>, bool, usize),
    Html(HtmlReport<Box<dyn Write>>),
    Json(Box<dyn Write>),
}

impl Sink {
    fn new(
        format: Format,
        mut out: Box<dyn Write>,
        capture: &Path,
        colour: bool,
    ) -> std::io::Result<Sink> {
        Ok(match format {
            Format::Text => {
                writeln!(out, "{}", capture.display())?;
                Sink::Text(out, colour, 0)
            }
            Format::Html => Sink::Html(HtmlReport::start(out, &capture.display().to_string())?),
            Format::Json => Sink::Json(out),
        })
    }

    fn group(&mut self, g: &Group, filter: &Filter) -> std::io::Result<()> {
        if !filter.admits(g) {
            return Ok(());
        }
        match self {
            Sink::Text(out, colour, shown) => {
                *shown += 1;
                write!(out, "\n{}", ladder::draw(g, *colour))
            }
            Sink::Html(report) => report.group(g),
            Sink::Json(out) => {
                serde_json::to_writer(&mut *out, &super::json(g))?;
                writeln!(out)
            }
        }
    }

    fn finish(self, note: &str) -> std::io::Result<()> {
        match self {
            Sink::Text(mut out, _, shown) => {
                if shown == 0 {
                    writeln!(out, "\nno SIP messages matched")?;
                }
                writeln!(out, "\n{note}")?;
                out.flush()
            }
            Sink::Html(report) => report.finish(note)?.flush(),
            Sink::Json(mut out) => out.flush(),
        }
    }
}

/// The provider models a re-run uses.
fn models(
    args: &ReplayArgs,
    messages: &[Message],
) -> Result<Vec<(String, catalogue::Rule)>, String> {
    let Some(wanted) = &args.provider_model else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = if wanted.is_empty() {
        diagnose::diagnose(messages)
            .into_iter()
            .map(|f| f.name)
            .collect()
    } else {
        vec![wanted.clone()]
    };
    let mut rules = Vec::new();
    for name in &names {
        let (_, text) = catalogue::BUILTIN
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("no catalogue entry named {name}"))?;
        let entry = catalogue::load(name, text)?;
        if entry.model.is_empty() && !wanted.is_empty() {
            return Err(format!("catalogue entry {name} has no provider model"));
        }
        rules.extend(entry.model.into_iter().map(|r| (name.clone(), r)));
    }
    if rules.is_empty() {
        return Err(
            "no provider model applies: diagnose finds no quirk with a model in this capture"
                .into(),
        );
    }
    Ok(rules)
}

/// A capture read whole; an error part-way is reported and what was read
/// before it is used.
fn read_whole(path: &Path) -> Result<Vec<Message>, String> {
    let (messages, error) = rerun::read_all(path)?;
    if let Some(e) = error {
        eprintln!(
            "quirkgate: {e} (using the {} messages before it)",
            messages.len()
        );
    }
    Ok(messages)
}

fn rerun_command(args: &ReplayArgs, mut out: Box<dyn Write>) -> Result<(), String> {
    let messages = read_whole(&args.capture)?;
    let options = Options {
        profile: args.profile.clone().unwrap_or_default(),
        provider: args.provider,
        model: models(args, &messages)?,
        base: std::env::current_dir().unwrap_or_default(),
    };
    let run = rerun::rerun(&messages, &options)?;
    match args.format {
        Format::Text => out.write_all(rerun::render(&run).as_bytes()).map_err(io)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &run).map_err(|e| e.to_string())?;
            writeln!(out).map_err(io)?;
        }
        Format::Html => {
            let mut grouper = Grouper::default();
            let mut report = HtmlReport::start(
                out,
                &format!("{} under profile {}", args.capture.display(), run.profile),
            )
            .map_err(io)?;
            for m in rerun::as_messages(&run) {
                for g in grouper.push(m) {
                    report.group(&g).map_err(io)?;
                }
            }
            for g in grouper.finish() {
                report.group(&g).map_err(io)?;
            }
            out = report.finish(&run.outcome.join("; ")).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

/// `quirkgate diagnose`: 0 when a quirk was found, 1 when none, 2 when the
/// capture cannot be read.
pub fn diagnose_command(path: &Path) -> ExitCode {
    let messages = match read_whole(path) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let findings = diagnose::diagnose(&messages);
    print!("{}", diagnose::report(&findings, messages.len()));
    if findings.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
