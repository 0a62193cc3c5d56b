//! The store's root keys on the database side: per label a random HKDF salt and a canary
//! (`sealing_keys`), the key file generated when none is configured, sealing the clear rows
//! of an older database, and re-encryption when the primary key changes.
//!
//! When the store opens ([`unlock`], one transaction): every configured key is derived with
//! its label's salt (a new label gets a new salt and canary); a canary that does not open
//! means the key's secret is not the one the database was sealed with, and start-up stops
//! naming the label. Then every sealed value not under the primary key is re-encrypted with
//! it; a value sealed with a label that is no longer configured stops start-up naming the
//! label and the column. Labels no value uses any more are forgotten.

use super::db::{Sql, SqlExt as _};
use super::sealed::{SealedColumn, SEALED_COLUMNS};
use super::sealing::{self, Cell, KeySecret, KeySet, Keyring, RootKey, SALT_LEN};
use super::{files, StoreError, StoreResult};
use rusqlite::params;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The label of the key the broker generates when none is configured.
pub const LOCAL_LABEL: &str = "local";

/// The name of the generated key file, beside the database file.
pub const KEY_FILE_NAME: &str = "encryption.key";

/// What a canary holds once opened. The stored canary is the sealed text after
/// `odb-sealed:1:<label>:`.
const CANARY: &[u8] = b"on-demand-broker sealing canary";

fn canary_cell<'a>(label: &'a [&'a str]) -> Cell<'a> {
    Cell { table: "sealing_keys", column: "canary", key: label }
}

/// The key file beside the database at `db`.
pub fn key_file_path(db: &Path) -> PathBuf {
    match db.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.join(KEY_FILE_NAME),
        None => PathBuf::from(KEY_FILE_NAME),
    }
}

/// The key set of a broker without configured keys: the key in the file beside the
/// database, generated (random, mode 0600) with a warning the first time.
pub(super) fn local_key_set(db: &Path) -> StoreResult<KeySet> {
    let path = key_file_path(db);
    let key_error = |message: String| StoreError::KeyFile { path: path.clone(), message };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => {
            tighten_key_file(&path);
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate_key_file(&path)?,
        Err(e) => return Err(key_error(format!("cannot read it: {e}"))),
    };
    let secret = hex::decode(text.trim())
        .map_err(|_| key_error("it does not hold a hex-encoded key".into()))?;
    if secret.len() < sealing::MIN_SECRET_BYTES {
        return Err(key_error(format!(
            "it holds {} bytes; a key has at least {}",
            secret.len(),
            sealing::MIN_SECRET_BYTES
        )));
    }
    let key = RootKey { label: LOCAL_LABEL.into(), secret: KeySecret::new(secret) };
    KeySet::new(vec![key], LOCAL_LABEL).map_err(|e| key_error(e.to_string()))
}

/// Sets a key file that group or others can read to 0600, with a warning that says what
/// was found (the key itself may have been read by them: replacing it means rotating).
fn tighten_key_file(path: &Path) {
    let Ok(mode) = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777) else {
        return;
    };
    if mode & 0o077 == 0 {
        return;
    }
    let result = std::fs::set_permissions(path, std::fs::Permissions::from_mode(files::FILE_MODE));
    tracing::warn!(
        path = %path.display(),
        mode = %format!("{mode:04o}"),
        "the encryption key file {} had mode {mode:04o}: other users could read the key. {}",
        path.display(),
        match result {
            Ok(()) => "The broker set it to 0600; if someone may have read it, configure database.encryption.keys with a new primary key and this one as `local`".to_string(),
            Err(e) => format!("The broker could not change it ({e}): run `chmod 600 {}` as its owner", files::shell_quote(path)),
        }
    );
}

/// Writes a new random key to `path` (0600); returns its text. Another process that made the
/// file first wins: its key is read instead.
fn generate_key_file(path: &Path) -> StoreResult<String> {
    let key_error = |e: std::io::Error| StoreError::KeyFile {
        path: path.to_path_buf(),
        message: format!("cannot create it: {e}"),
    };
    let mut secret = [0u8; 32];
    sealing::random_bytes(&mut secret);
    let text = format!("{}\n", hex::encode(secret));
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(files::FILE_MODE)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return std::fs::read_to_string(path).map_err(key_error)
        }
        Err(e) => return Err(key_error(e)),
    };
    file.set_permissions(std::fs::Permissions::from_mode(files::FILE_MODE))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(key_error)?;
    tracing::warn!(
        path = %path.display(),
        label = LOCAL_LABEL,
        "no database.encryption.keys configured: generated the key {} (label '{LOCAL_LABEL}') that seals the secrets in the database. \
         Keep it with the database and back it up: without it the stored credentials cannot be read. \
         To manage the key yourself, configure database.encryption.keys",
        path.display(),
    );
    Ok(text)
}

/// Derives every configured key, checks the canaries, re-encrypts what is not under the
/// primary key, and forgets labels nothing uses, in the caller's write transaction. Returns
/// the keyring and how many values were re-encrypted.
pub(super) fn unlock(tx: &dyn Sql, keys: &KeySet) -> StoreResult<(Keyring, usize)> {
    let ring = load(tx, keys)?;
    let resealed = reseal_to_primary(tx, &ring)?;
    forget_unused(tx, &ring)?;
    Ok((ring, resealed))
}

/// Derives the keys of `keys` with the salts of `sealing_keys` (adding new labels) and checks
/// each stored canary.
pub(super) fn load(c: &dyn Sql, keys: &KeySet) -> StoreResult<Keyring> {
    let mut derived = BTreeMap::new();
    let mut known = Vec::new();
    let mut new = Vec::new();
    for key in keys.keys() {
        let stored: Option<(Vec<u8>, String)> = c.query_opt(
            "SELECT salt, canary FROM sealing_keys WHERE label = ?1",
            params![key.label],
            |r| Ok((r.get_at(0)?, r.get_at(1)?)),
        )?;
        let salt = match stored {
            Some((salt, canary)) => {
                known.push((key.label.as_str(), canary));
                salt
            }
            None => {
                let mut salt = vec![0u8; SALT_LEN];
                sealing::random_bytes(&mut salt);
                new.push((key.label.as_str(), salt.clone()));
                salt
            }
        };
        derived.insert(key.label.clone(), sealing::derive(&key.secret, &salt));
    }
    let ring = Keyring::new(keys.primary(), derived);
    for (label, canary) in known {
        let sealed = format!("{}{canary}", sealing::prefix_of(label));
        if ring.open(&canary_cell(&[label]), &sealed).as_deref() != Ok(CANARY) {
            return Err(StoreError::WrongKey { label: label.to_string() });
        }
    }
    for (label, salt) in new {
        let sealed = ring.seal_with(label, &canary_cell(&[label]), CANARY);
        // Stored without the prefix and label (the row's key holds the label), so that once
        // no value uses a key, its label in sealed form is nowhere in the files.
        let canary = &sealed[sealing::prefix_of(label).len()..];
        c.execute(
            "INSERT INTO sealing_keys (label, salt, canary) VALUES (?1, ?2, ?3)",
            params![label, salt, canary],
        )?;
    }
    Ok(ring)
}

/// The rows of `col` (each row's key and stored value) that are not its clear value, and,
/// with `not_prefixed`, whose value does not start with that text.
fn rows_of(
    c: &dyn Sql, col: &SealedColumn, not_prefixed: Option<&str>,
) -> StoreResult<Vec<(Vec<String>, String)>> {
    let mut filters = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(text) = col.clear {
        args.push(text.to_string().into());
        filters.push(format!("{} != ?{}", col.column, args.len()));
    }
    if let Some(prefix) = not_prefixed {
        args.push((prefix.len() as i64).into());
        args.push(prefix.to_string().into());
        filters.push(format!("substr({}, 1, ?{}) != ?{}", col.column, args.len() - 1, args.len()));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    };
    let sql = format!("SELECT {}, {} FROM {}{filter}", col.key.join(", "), col.column, col.table);
    let n = col.key.len();
    let args: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a as &dyn rusqlite::ToSql).collect();
    c.query_vec(&sql, &args, |r| {
        let key = (0..n).map(|i| r.get_at::<String>(i)).collect::<Result<Vec<_>, _>>()?;
        Ok((key, r.get_at::<String>(n)?))
    })
}

/// Writes `stored` into the row `key` of `col`.
fn update(c: &dyn Sql, col: &SealedColumn, key: &[String], stored: &str) -> StoreResult<()> {
    let matches: Vec<String> =
        col.key.iter().enumerate().map(|(i, k)| format!("{k} = ?{}", i + 2)).collect();
    let sql =
        format!("UPDATE {} SET {} = ?1 WHERE {}", col.table, col.column, matches.join(" AND "));
    let args: Vec<&dyn rusqlite::ToSql> = std::iter::once(&stored as &dyn rusqlite::ToSql)
        .chain(key.iter().map(|k| k as &dyn rusqlite::ToSql))
        .collect();
    c.execute(&sql, &args)?;
    Ok(())
}

/// Seals every value of every sealed column, all of them clear (an older database, in the
/// migration that introduces sealing). Returns how many were sealed. A sealed column whose
/// table a later migration creates is skipped: its values are sealed from the start.
pub(super) fn seal_clear_rows(c: &dyn Sql, ring: &Keyring) -> StoreResult<usize> {
    let mut count = 0;
    for col in SEALED_COLUMNS {
        let exists: bool = c
            .query_opt(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![col.table],
                |r| Ok(r.get_at(0)?),
            )?
            .unwrap_or(false);
        if !exists {
            continue;
        }
        for (key, text) in rows_of(c, col, None)? {
            let key_refs: Vec<&str> = key.iter().map(String::as_str).collect();
            update(c, col, &key, &col.seal_text(ring, &key_refs, &text))?;
            count += 1;
        }
    }
    let what =
        format!("sealed {count} stored secret value(s) written in clear by an earlier broker");
    log_sealing(count, ring, &what);
    Ok(count)
}

/// Re-encrypts with the primary key every sealed value under another key. A value under a
/// key that is not configured is [`StoreError::KeyMissing`].
fn reseal_to_primary(c: &dyn Sql, ring: &Keyring) -> StoreResult<usize> {
    let prefix = sealing::prefix_of(ring.primary());
    let mut count = 0;
    for col in SEALED_COLUMNS {
        for (key, stored) in rows_of(c, col, Some(&prefix))? {
            if let Some(label) = sealing::label_of(&stored).filter(|l| !ring.has(l)) {
                return Err(StoreError::KeyMissing { label: label.to_string(), column: col.name });
            }
            let key_refs: Vec<&str> = key.iter().map(String::as_str).collect();
            let text = col.open_text(ring, &key_refs, &stored)?;
            update(c, col, &key, &col.seal_text(ring, &key_refs, &text))?;
            count += 1;
        }
    }
    log_sealing(count, ring, &format!("re-encrypted {count} stored value(s)"));
    Ok(count)
}

/// Logs, when `count` values were written, what was done to them (`what` names the count)
/// and with which key.
fn log_sealing(count: usize, ring: &Keyring, what: &str) {
    if count > 0 {
        let key = ring.primary();
        tracing::info!(count, key, "{what}, with the primary encryption key '{key}'");
    }
}

/// Drops the salt and canary of every label that is not configured (no value uses it: they
/// are all under the primary key by now).
fn forget_unused(c: &dyn Sql, ring: &Keyring) -> StoreResult<()> {
    let labels: Vec<String> =
        c.query_vec("SELECT label FROM sealing_keys ORDER BY label", params![], |r| {
            Ok(r.get_at(0)?)
        })?;
    for label in labels.iter().filter(|l| !ring.has(l)) {
        c.execute("DELETE FROM sealing_keys WHERE label = ?1", params![label])?;
        tracing::info!(
            label = %label,
            "encryption key '{label}' is no longer configured and no stored value uses it: forgotten"
        );
    }
    Ok(())
}
