//! quirkgate-load: a SIP load generator for trunk capacity tests and the
//! benchmark (`scripts/bench`). One process is either the calling side
//! (UAC) or the answering side (UAS).

mod net;
mod uac;
mod uas;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use net::Transport;

/// A SIP load generator: place calls at a fixed rate and measure how a
/// trunk, proxy or B2BUA keeps up, or answer them.
///
/// A typical capacity test runs an answering side and a calling side
/// around the system under test:
///
///   quirkgate-load uas --bind 127.0.0.1:5090
///
///   quirkgate-load uac --target 127.0.0.1:5060 --rate 200 --calls 10000
///
/// Each call is INVITE → 100/180/200 → ACK → hold → BYE → 200, with the
/// generator's own retransmissions (RFC 3261 timers A/B and E/F). Loads go
/// where you point them; keep them on networks you own.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Place calls and report successes, failures, retransmissions and
    /// response times (INVITE→100 and INVITE→200 percentiles).
    Uac(UacArgs),
    /// Answer calls: 180 then 200 with SDP to each INVITE, 200 to each BYE,
    /// until interrupted (SIGINT/SIGTERM), then print what it answered.
    Uas(UasArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct UacArgs {
    /// Where to send the calls (the system under test, or a UAS).
    #[arg(long)]
    pub target: SocketAddr,
    /// Local address to send from.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    #[arg(long, value_enum, default_value = "udp")]
    pub transport: Transport,
    /// New calls per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Calls to place in all.
    #[arg(long, default_value_t = 100)]
    pub calls: u64,
    /// How long each answered call is held before its BYE (e.g. 0, 500ms,
    /// 60s).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub hold: Duration,
    /// The number called (the Request-URI's user).
    #[arg(long, default_value = "0215550100")]
    pub number: String,
    /// Print the summary as one JSON object (for scripts).
    #[arg(long)]
    pub json: bool,
    /// A progress line every second on standard error, also when it is not
    /// a terminal.
    #[arg(long)]
    pub progress: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct UasArgs {
    /// Address to answer on; port 0 takes a free one (printed at start).
    #[arg(long, default_value = "127.0.0.1:5090")]
    pub bind: SocketAddr,
    #[arg(long, value_enum, default_value = "udp")]
    pub transport: Transport,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as 500ms or 60s"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("'{s}': the unit is ms, s or m")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quirkgate-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.mode {
        Mode::Uac(args) => runtime.block_on(uac::run(args)),
        Mode::Uas(args) => runtime.block_on(uas::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quirkgate-load: {e}");
            ExitCode::FAILURE
        }
    }
}
