fn main() -> std::process::ExitCode {
    hotloop::cli::main()
}
