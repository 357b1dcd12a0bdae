fn main() -> std::process::ExitCode {
    oss_uploader::cli::main()
}
