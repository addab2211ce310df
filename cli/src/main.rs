fn main() -> std::process::ExitCode {
    inlet_cli::main_from_env()
}
