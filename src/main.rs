use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quirkgate::config::Config;

/// quirkgate: a SIP B2BUA/SBC that bends its provider leg to each
/// provider's quirks.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (on the embedded default configuration without --config).
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Log filter, e.g. `debug` to log every SIP message in and out.
        #[arg(long, env = "QUIRKGATE_LOG", default_value = "info")]
        log: String,
        /// Also write every SIP message sent and received to this pcap file.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Check a configuration file and report every error with its line.
    Check {
        file: PathBuf,
        /// Also print what each line and trunk will really use.
        #[arg(long)]
        effective: bool,
    },
    /// Judge files that each hold one raw SIP message.
    Lint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show how a SIP peer is located by DNS (RFC 3263: NAPTR, SRV, A/AAAA).
    Dns {
        /// A host, or a registrar as written in the configuration
        /// (`sip:host[:port][;transport=tcp]`).
        name: String,
        /// Ask only this DNS server (`IP` or `IP:PORT`) instead of the
        /// system's resolvers.
        #[arg(long)]
        server: Option<String>,
    },
    /// Draw a capture's registrations and dialogs as ladders, or re-run
    /// it through the gateway under a quirk profile (--profile).
    Replay(quirkgate::replay::command::ReplayArgs),
    /// Name the known provider quirks a capture shows, with the evidence
    /// and the profile keys that fix them. Exit status: 0 found, 1 none,
    /// 2 unreadable capture.
    Diagnose { capture: PathBuf },
    /// List the built-in quirk profiles, or show one with its settings.
    Profiles {
        #[command(subcommand)]
        action: ProfilesAction,
    },
}

#[derive(Subcommand)]
enum ProfilesAction {
    /// Every built-in profile with its description.
    List,
    /// A profile's effective settings (its `extends` chain resolved), where
    /// each came from, and why it is there.
    Show {
        /// A built-in name or a path to a profile file.
        name: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config, log, trace } => run(config, &log, trace.as_deref()),
        Command::Check { file, effective } => match Config::load(&file) {
            Ok(config) => {
                println!("{}: ok", file.display());
                if effective {
                    print!("\n{}", config.effective());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Lint { files } => lint(&files),
        Command::Dns { name, server } => dns(&name, server.as_deref()),
        Command::Profiles { action } => profiles(action),
        Command::Replay(args) => quirkgate::replay::command::replay(args),
        Command::Diagnose { capture } => quirkgate::replay::command::diagnose_command(&capture),
    }
}

fn run(config_path: Option<PathBuf>, log: &str, trace: Option<&std::path::Path>) -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(log))
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into log files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match &config_path {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
        None => Config::embedded(),
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let users = config.users.clone();
    let database = config.storage.database.clone();
    let origin = config_path.map_or("the embedded default configuration".to_string(), |p| {
        p.display().to_string()
    });
    let result = runtime.block_on(quirkgate::shell::run(config, trace, |bound| {
        // The banner is a courtesy: a closed stdout must not stop the gateway.
        let _ = print_banner(bound, &origin, &database, &users);
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quirkgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn lint(files: &[PathBuf]) -> ExitCode {
    let mut all_valid = true;
    for file in files {
        match std::fs::read(file) {
            Ok(bytes) => {
                let report = quirkgate::lint::lint(&bytes);
                all_valid &= report.verdict.is_ok();
                println!("{}: {report}", file.display());
            }
            Err(e) => {
                all_valid = false;
                println!("{}: unreadable: {e}", file.display());
            }
        }
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_banner(
    bound: &quirkgate::shell::Bound,
    origin: &str,
    database: &std::path::Path,
    users: &[quirkgate::config::User],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "quirkgate {} running on {origin}",
        env!("CARGO_PKG_VERSION")
    )?;
    for listen in &bound.sip {
        writeln!(out, "  sip   {listen}")?;
    }
    writeln!(out, "  admin http://{}/", bound.admin)?;
    for user in users {
        match &user.password {
            Some(password) => writeln!(out, "  user  {} password {password}", user.number)?,
            None => writeln!(out, "  user  {} (IP-authorised)", user.number)?,
        }
    }
    writeln!(out, "  registrations stored in {}", database.display())?;
    out.flush()
}

fn dns(name: &str, server: Option<&str>) -> ExitCode {
    use quirkgate::dns::{locate, DnsResolver};
    let target: quirkgate::config::Registrar = match name.parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("quirkgate: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match server.map(|s| {
        s.parse::<std::net::SocketAddr>().or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        })
    }) {
        Some(Err(_)) => {
            eprintln!("quirkgate: --server takes IP or IP:PORT");
            return ExitCode::from(2);
        }
        Some(Ok(addr)) => Some(addr),
        None => None,
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let resolver = match server {
            Some(addr) => DnsResolver::with_server(addr),
            None => DnsResolver::system()?,
        };
        anyhow::Ok(locate(&resolver, &target.peer_target()).await)
    });
    match result {
        Ok(found) => {
            for step in &found.steps {
                println!("{step}");
            }
            if found.targets.is_empty() {
                println!("=> no target: the peer cannot be reached");
                return ExitCode::FAILURE;
            }
            for (i, (transport, addr)) in found.targets.iter().enumerate() {
                println!("=> {}. {transport} {addr}", i + 1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("quirkgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn profiles(action: ProfilesAction) -> ExitCode {
    use quirkgate::config::profiles;
    match action {
        ProfilesAction::List => {
            for (name, _) in profiles::BUILTIN {
                match profiles::load(name, std::path::Path::new(".")) {
                    Ok(p) => println!("{name:<24} {}", p.file.description),
                    Err(e) => println!("{name:<24} (broken: {e})"),
                }
            }
            ExitCode::SUCCESS
        }
        ProfilesAction::Show { name } => {
            let here = std::path::Path::new(".");
            let shown = profiles::chain(&name, here).and_then(|chain| {
                let resolved = profiles::resolve(Some(&name), None, here)?;
                resolved
                    .settings
                    .resolve()
                    .map_err(|e| format!("{}: {}", e.key, e.message))?;
                Ok((chain, resolved))
            });
            match shown {
                Ok((chain, resolved)) => {
                    let names: Vec<&str> = chain.iter().map(|p| p.name.as_str()).collect();
                    let this = chain.last().map(|p| &p.file);
                    println!("# {}", names.join(" → "));
                    if let Some(file) = this {
                        println!("# {}", file.description);
                    }
                    println!("[quirks]\n{}", resolved.describe());
                    if !resolved.why.is_empty() {
                        println!("[why]");
                        for (key, why) in &resolved.why {
                            println!("{key}: {why}");
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("quirkgate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// One thread: the core is one state machine, and on a multi-thread runtime
/// every message would cross threads twice (socket task, core, send).
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("quirkgate: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}
