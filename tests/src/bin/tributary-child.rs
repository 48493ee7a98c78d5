//! The `tributary` binary under another name (`CARGO_BIN_EXE_tributary-child`), so the
//! black-box tests can run it as a process: the same arguments, environment, logging, signals
//! and exit status, from the same code ([`tributary_cli::command::main`]).

fn main() -> std::process::ExitCode {
    tributary_cli::command::main()
}
