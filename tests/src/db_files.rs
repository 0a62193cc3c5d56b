//! The broker's SQLite files as raw bytes, for tests that look for secrets in them.

use std::path::{Path, PathBuf};

/// The database file and the companions SQLite keeps beside it in WAL mode.
pub fn database_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// The database files whose raw bytes contain `needle`.
pub fn files_containing(db: &Path, needle: &str) -> Vec<PathBuf> {
    database_files(db)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}
