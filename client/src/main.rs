//! picket: the thin client. Parses the command line, runs it, maps failures to exit codes.
//! Must not speak the protocol: picket-client (client-lib/) owns the connection.

mod cli;
mod commands;
mod failure;
mod render;
mod report;

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
        Err(e) => {
            // clap's own exit codes: 0 for --help/--version, 2 for usage errors.
            e.exit();
        }
    };
    let json = cli.json;
    if let Err(err) = commands::run(cli).await {
        if json {
            // A scan that ended badly already printed its summary: one document only.
            if !matches!(err, failure::Failure::ScansNotDone(_)) {
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
