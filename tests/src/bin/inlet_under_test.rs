//! The `inlet` CLI, built inside the test crate so it carries the `failpoints` feature.
fn main() -> std::process::ExitCode {
    inlet_cli::main_from_env()
}
