//! The `tributary` binary: [`tributary_cli::command`].

fn main() -> std::process::ExitCode {
    tributary_cli::command::main()
}
