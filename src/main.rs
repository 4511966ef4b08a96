//! The `vaultgate` binary: parse the command line, set up logging, dispatch, exit codes.

use std::process::ExitCode;

use clap::Parser;
use std::io::IsTerminal;

use vaultgate::cli::{CertsCommand, Cli, Command, ConfigCommand, LogFormat};
use vaultgate::identity::Caller;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(
        cli.log_format
            .unwrap_or_else(|| LogFormat::detect(std::io::stderr().is_terminal())),
    );
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Run { config } => runtime().and_then(|rt| {
            rt.block_on(vaultgate::cli::run::run(&config))
                .map_err(Into::into)
        }),
        // A refused file is an answer, printed in full: every problem, one per line.
        Command::Config(ConfigCommand::Check { file }) => {
            let report = vaultgate::cli::config::check(&file);
            print!("{}", report.text);
            return if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Certs(CertsCommand::Init {
            dir,
            services,
            trust_domain,
            hosts,
        }) => certs_init(&dir, &services, &trust_domain, &hosts),
        Command::Verify(args) => runtime().and_then(|rt| {
            rt.block_on(vaultgate::cli::verify::run(&args))
                .map_err(Into::into)
        }),
        Command::Completions { shell } => {
            vaultgate::cli::manual::completions(shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man => vaultgate::cli::manual::man(&mut std::io::stdout()).map_err(Into::into),
        // Policy commands decide their own exit code: a failed check is an answer, not an error.
        Command::Policy(command) => match vaultgate::cli::policy::run(command) {
            Ok(code) => return code,
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                // Many messages already quote their cause; saying it twice helps no one.
                let cause = s.to_string();
                if !msg.contains(&cause) {
                    msg.push_str(&format!(": {cause}"));
                }
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `VAULTGATE_LOG` (default `info`).
/// Colours only on a terminal, never in a file.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VAULTGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Box<dyn std::error::Error>> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn certs_init(
    dir: &std::path::Path,
    services: &[String],
    trust_domain: &str,
    hosts: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let callers = services
        .iter()
        .map(|s| Caller::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let paths = vaultgate::cli::certs::init(dir, &callers, trust_domain, hosts)?;
    println!("CA:      {}", paths.ca_cert.display());
    println!(
        "server:  {} (localhost, 127.0.0.1, ::1)",
        paths.server_cert.display()
    );
    for (caller, cert, _) in &paths.clients {
        println!("client:  {} ({caller})", cert.display());
    }
    Ok(())
}
