//! Harness for black-box broker tests.
