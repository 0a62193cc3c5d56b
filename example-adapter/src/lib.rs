//! Example service adapter for a Redis-like service.
