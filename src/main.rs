//! The `oss-uploader` binary: everything happens in `cli::main`, so tests and the library share
//! the same code path.

fn main() -> std::process::ExitCode {
    oss_uploader::cli::main()
}
