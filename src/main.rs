//! The `oss-uploader` binary: without a command the window opens (with any FILEs queued); with
//! one, the command line runs it. Both faces drive the same engine.

use clap::Parser as _;
use oss_uploader::{app, cli};

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match args.command {
        None => app::open_window(app::WindowArgs {
            demo: args.demo,
            paths: args.paths,
            verbose: args.verbose,
        }),
        Some(command) => cli::run(command, args.demo, args.verbose),
    }
}
