//! `unlearnable`: the binary is a thin face over the library.

fn main() -> std::process::ExitCode {
    unlearnable::cli::main()
}
