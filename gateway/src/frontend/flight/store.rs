//! Server-side state a Flight SQL client refers to by an opaque key: its
//! sessions, prepared statements and running queries.
//!
//! Flight SQL has no connection to hang state on, and clients do not always
//! say when they are done with it, so every entry ends on its own: when
//! unused for the idle timeout, or when the store is full and it is the
//! least recently used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries by key, each ending when idle or least recently used.
#[derive(Debug)]
pub(crate) struct Expiring<V> {
    entries: Mutex<HashMap<Vec<u8>, Entry<V>>>,
    capacity: usize,
    idle: Duration,
}

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    last_used: Instant,
}

impl<V> Expiring<V> {
    /// A store of at most `capacity` entries, each ending after `idle`.
    pub(crate) fn new(capacity: usize, idle: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            idle,
        }
    }

    /// Adds an entry, making room if the store is full.
    pub(crate) fn insert(&self, key: Vec<u8>, value: Arc<V>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= self.capacity {
            entries.retain(|_, e| now.duration_since(e.last_used) < self.idle);
        }
        if entries.len() >= self.capacity {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                last_used: now,
            },
        );
    }

    /// The entry under `key`, unless it ended; marks it used.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Arc<V>> {
        let mut entries = self.entries.lock().ok()?;
        let now = Instant::now();
        let entry = entries.get_mut(key)?;
        if now.duration_since(entry.last_used) >= self.idle {
            entries.remove(key);
            return None;
        }
        entry.last_used = now;
        Some(entry.value.clone())
    }

    /// Removes the entry under `key`, returning it.
    pub(crate) fn remove(&self, key: &[u8]) -> Option<Arc<V>> {
        self.entries.lock().ok()?.remove(key).map(|e| e.value)
    }

    /// Drops every entry idle for longer than the timeout.
    pub(crate) fn sweep(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            let now = Instant::now();
            entries.retain(|_, e| now.duration_since(e.last_used) < self.idle);
        }
    }

    /// How many entries there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// A new random key: 128 bits, unguessable, so a key is a capability.
pub(crate) fn random_key() -> Vec<u8> {
    rand::random::<[u8; 16]>().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first() {
        let store = Expiring::new(2, Duration::from_secs(60));
        store.insert(b"a".to_vec(), Arc::new(1));
        store.insert(b"b".to_vec(), Arc::new(2));
        assert_eq!(store.get(b"a").as_deref(), Some(&1));
        store.insert(b"c".to_vec(), Arc::new(3));
        assert_eq!(store.len(), 2);
        assert!(store.get(b"b").is_none(), "b was least recently used");
        assert!(store.get(b"a").is_some());
        assert!(store.get(b"c").is_some());
    }

    #[test]
    fn idle_entries_end() {
        let store = Expiring::new(10, Duration::from_millis(20));
        store.insert(b"a".to_vec(), Arc::new(1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(store.get(b"a").is_none());
        store.insert(b"b".to_vec(), Arc::new(2));
        std::thread::sleep(Duration::from_millis(40));
        store.sweep();
        assert_eq!(store.len(), 0);
        assert!(store.remove(b"b").is_none());
    }

    #[test]
    fn keys_differ() {
        assert_ne!(random_key(), random_key());
        assert_eq!(random_key().len(), 16);
    }
}
