//! The database's files on disk: a directory only the broker can enter and files only the
//! broker can read. The secrets in the database are sealed (see `sealing`), but the rest of
//! its content (instance ids, plans, history) is the operator's business alone, and the
//! generated key file beside it (see `keys`) gets the same mode.
//!
//! Modes are set explicitly (`chmod` after `create`), so they do not depend on the process
//! umask, and the global umask is left alone: other files the broker writes keep the
//! operator's choice. SQLite creates `-wal`, `-shm` and `-journal` with the main file's mode,
//! so a main file created 0600 gives 0600 companions; files left by an older broker or made
//! by hand are checked and tightened at every open.

use super::{StoreError, StoreResult};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the database file and its companions: owner read and write only.
pub const FILE_MODE: u32 = 0o600;

/// Mode of a database directory the broker creates: owner only.
pub const DIR_MODE: u32 = 0o700;

/// Permission bits that let group or others in.
const GROUP_OTHER: u32 = 0o077;

/// The files SQLite keeps beside the database: the write-ahead log, its shared-memory index,
/// and the rollback journal (used only outside WAL mode, so present only when a database was
/// left by such a mode).
pub fn companions(db: &Path) -> [PathBuf; 3] {
    ["-wal", "-shm", "-journal"].map(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Makes sure `dir` exists. Directories created here (the missing ancestors too) get
/// [`DIR_MODE`]. An existing directory that group or others can enter is reported with a
/// warning but left as it is: the operator chose it, it may be shared with other software
/// or be a mount point, and changing it could break something the broker knows nothing
/// about. The database files in it are 0600 whatever the directory's mode.
pub fn prepare_dir(dir: &Path) -> StoreResult<()> {
    let create_error =
        |path: &Path, source: io::Error| StoreError::CreateDir { path: path.to_path_buf(), source };
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(d) = current.filter(|d| !d.as_os_str().is_empty()) {
        match fs::metadata(d) {
            Ok(meta) => {
                if d == dir {
                    warn_if_open_dir(dir, meta.permissions().mode());
                }
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(d);
                current = d.parent();
            }
            Err(e) => return Err(create_error(d, e)),
        }
    }
    for d in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(DIR_MODE).create(d) {
            Ok(()) => fs::set_permissions(d, fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| create_error(d, e))?,
            // Made by someone else in the meantime: theirs, so only checked.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if d == dir {
                    let mode = fs::metadata(d).map_err(|e| create_error(d, e))?;
                    warn_if_open_dir(dir, mode.permissions().mode());
                }
            }
            Err(e) => return Err(create_error(d, e)),
        }
    }
    Ok(())
}

fn warn_if_open_dir(dir: &Path, mode: u32) {
    if mode & GROUP_OTHER != 0 {
        tracing::warn!(
            path = %dir.display(),
            mode = %format!("{:04o}", mode & 0o7777),
            "the database directory {} has mode {:04o}: other users can see the database's files in it. \
             The files themselves are 0600; if the broker is the directory's only user, run `chmod 700 {}`",
            dir.display(),
            mode & 0o7777,
            shell_quote(dir),
        );
    }
}

/// Creates the database file with [`FILE_MODE`] if it does not exist yet, so SQLite never
/// creates it with its default 0644, and tightens an existing one and its companions.
pub fn prepare_files(db: &Path) -> StoreResult<()> {
    match fs::OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(db) {
        // An empty file is a valid, empty SQLite database.
        Ok(file) => file
            .set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|source| StoreError::CreateFile { path: db.to_path_buf(), source })?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(db),
        Err(source) => return Err(StoreError::CreateFile { path: db.to_path_buf(), source }),
    }
    tighten_companions(db);
    Ok(())
}

/// Tightens whichever of the companion files exist; run again once SQLite has opened the
/// database, as a check that they were created with the main file's mode.
pub fn tighten_companions(db: &Path) {
    for path in companions(db) {
        tighten(&path);
    }
}

/// Sets an existing file that group or others can access to [`FILE_MODE`], with a warning
/// that says what was found. A missing file is fine (SQLite creates it later, 0600 like the
/// main file); a file that cannot be changed is reported with the command that fixes it.
fn tighten(path: &Path) {
    let mode = match fs::metadata(path) {
        Ok(meta) => meta.permissions().mode(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot check the mode of database file {}: {e}", path.display());
            return;
        }
    };
    if mode & GROUP_OTHER == 0 {
        return;
    }
    let found = format!("{:04o}", mode & 0o7777);
    match fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            mode = %found,
            "database file {} had mode {found}: other users could read the credentials it holds. \
             The broker set it to 0600, as `chmod 600 {}` does; check who could read it before",
            path.display(),
            shell_quote(path),
        ),
        Err(e) => tracing::warn!(
            path = %path.display(),
            mode = %found,
            error = %e,
            "database file {} has mode {found}: other users can read the credentials it holds, \
             and the broker could not change it ({e}). Run `chmod 600 {}` as the file's owner",
            path.display(),
            shell_quote(path),
        ),
    }
}

/// The path quoted for a POSIX shell when it needs quoting, so the suggested command can be
/// pasted as it is.
pub fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c));
    if plain && !text.is_empty() {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
