//! The `budget-service` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    budget_service::cli::main()
}
