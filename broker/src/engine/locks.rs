//! In-process locks by key (an operation id, a binding, the quota check): a platform poll,
//! the background worker and the request that started an operation never act on it at the
//! same time. Unused entries are dropped, so the map holds only keys someone holds or waits for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// Async mutexes by key.
#[derive(Debug, Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("locks");
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(key.to_string()).or_default().clone()
    }

    /// Waits for the lock of `key`.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        self.lock_for(key).lock_owned().await
    }

    /// The lock of `key` if nobody holds it.
    pub fn try_lock(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.lock_for(key).try_lock_owned().ok()
    }

    /// How many keys are held or waited for.
    pub fn len(&self) -> usize {
        let mut locks = self.locks.lock().expect("locks");
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_held_by_one_caller_at_a_time_and_forgotten_after() {
        let locks = KeyedLocks::default();
        let held = locks.lock("op-1").await;
        assert!(locks.try_lock("op-1").is_none());
        assert!(locks.try_lock("op-2").is_some());
        assert_eq!(locks.len(), 1);
        drop(held);
        assert!(locks.try_lock("op-1").is_some());
        assert!(locks.is_empty());
    }
}
