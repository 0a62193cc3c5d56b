//! On-demand service broker library.
