//! `example-service-adapter`: the Redis example service adapter as a standalone executable.

fn main() {
    std::process::exit(example_adapter::main_with_args(std::env::args().collect()))
}
