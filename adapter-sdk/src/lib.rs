//! Service adapter SDK: the wire contract between an on-demand broker and its service adapter.
