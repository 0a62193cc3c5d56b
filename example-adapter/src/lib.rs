//! Example service adapter for a Redis-like service.

/// Runs the adapter with `args`; returns the exit code.
pub fn main_with_args(_args: Vec<String>) -> i32 {
    1
}
