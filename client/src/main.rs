//! picket: the thin client. Parses the command line, runs it, maps failures to exit codes.
//! Must not speak the protocol: picket-client (client-lib/) owns the connection.

mod cli;
mod cluster;
mod commands;
mod diff;
mod failure;
mod output;
mod progress;
mod render;
mod report;
mod schedule;
mod shell;
mod style;
mod targets;
mod term;
mod time;
mod web;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Like any Unix filter: end quietly when the reader of stdout goes away (`| head`).
    // SAFETY: set once at start, before any thread exists; SIG_DFL is always valid.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => usage_error(e),
    };
    let json = cli.json;
    if let Err(err) = commands::run(cli).await {
        if json {
            // A scan that ended badly already printed its summary: one document only.
            if !err.printed() {
                println!("{}", err.to_json());
            }
        } else {
            eprintln!("picket: {err}");
            let hint = err.hint();
            if !hint.is_empty() {
                eprintln!("  hint: {hint}");
            }
        }
        std::process::exit(err.exit_code());
    }
}

/// clap's own exit codes (0 for --help/--version, 2 for usage errors) and text, except that
/// a usage error under `--json` is the JSON error document, like every other failure.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let wants_json = std::env::args_os().skip(1).any(|a| a == "--json");
    if !wants_json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    // clap's first line is "error: WHAT"; the rest is its usage and tip lines.
    let message = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    let err = failure::Failure::Usage {
        message,
        hint: "see `picket --help` or `picket COMMAND --help`".into(),
    };
    println!("{}", err.to_json());
    std::process::exit(err.exit_code());
}
