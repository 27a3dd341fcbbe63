//! The opt-in cache of successful HTTP Basic verifications (see
//! [`BasicAuthenticator::verification_cache`](super::BasicAuthenticator::verification_cache)).
//!
//! An entry is a tag: HMAC-SHA256, keyed by a random key made for this cache, over the username,
//! the password *and the user's stored password hash*. Neither the password nor the hash is
//! kept. A hit needs the same three again, so a changed password (a new stored hash) never hits
//! an old entry, and a wrong password never hits at all (only verified credentials are
//! inserted). Tags are compared in constant time.

use std::{
    collections::HashMap,
    fmt,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The longest time an entry may live: one hour, whatever was asked.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(3600);

/// What identifies one verified `(username, password, stored hash)`.
pub(crate) type Tag = [u8; 32];

/// A bounded, expiring set of verification tags.
pub(crate) struct VerifiedCache {
    /// HMAC-SHA256 keyed once with a random key; each tag starts from a clone.
    mac: Hmac<Sha256>,
    ttl: Duration,
    capacity: usize,
    /// Indexed by the first half of the tag; the whole tag is compared in constant time.
    entries: Mutex<HashMap<[u8; 16], Entry>>,
}

struct Entry {
    tag: Tag,
    expires: Instant,
}

impl VerifiedCache {
    /// A cache of at most `capacity` entries, each living `ttl` (at most [`MAX_TTL`]), keyed by
    /// a fresh random key.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).expect("the operating system's random number generator");
        Self {
            mac: <Hmac<Sha256>>::new_from_slice(&key).expect("HMAC takes keys of any length"),
            ttl: ttl.min(MAX_TTL),
            capacity,
            entries: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
        }
    }

    #[cfg(test)]
    fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The tag of these credentials for a user whose stored hash is `hash`. Lengths are
    /// prefixed, so no two different triples give the same input.
    pub(crate) fn tag(&self, username: &str, password: &str, hash: &str) -> Tag {
        let mut mac = self.mac.clone();
        for part in [username, password, hash] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` was verified less than the TTL ago.
    pub(crate) fn contains(&self, tag: &Tag) -> bool {
        self.contains_at(tag, Instant::now())
    }

    /// Remembers a verified `tag` for the TTL.
    pub(crate) fn insert(&self, tag: Tag) {
        self.insert_at(tag, Instant::now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], Entry>> {
        // Every update leaves the map consistent, so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn contains_at(&self, tag: &Tag, now: Instant) -> bool {
        let index = index(tag);
        let mut entries = self.lock();
        match entries.get(&index) {
            Some(entry) if now < entry.expires => entry.tag.ct_eq(tag).into(),
            Some(_) => {
                entries.remove(&index);
                false
            }
            None => false,
        }
    }

    fn insert_at(&self, tag: Tag, now: Instant) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let Some(expires) = now.checked_add(self.ttl) else {
            return;
        };
        let index = index(&tag);
        let mut entries = self.lock();
        if !entries.contains_key(&index) && entries.len() >= self.capacity {
            entries.retain(|_, e| now < e.expires);
            // Still full: drop the entry closest to expiry, the oldest (every entry lives as
            // long). A linear scan, but only after a full password verification.
            if entries.len() >= self.capacity
                && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(index, Entry { tag, expires });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

fn index(tag: &Tag) -> [u8; 16] {
    let mut index = [0u8; 16];
    index.copy_from_slice(&tag[..16]);
    index
}

impl fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn hit_and_miss() {
        let cache = VerifiedCache::new(8, TTL);
        let tag = cache.tag("ann", "pw", "$hash1");
        let now = Instant::now();
        assert!(!cache.contains_at(&tag, now));
        cache.insert_at(tag, now);
        assert!(cache.contains_at(&tag, now + Duration::from_secs(1)));
        assert!(!cache.contains_at(&cache.tag("ann", "pw2", "$hash1"), now));
        assert!(!cache.contains_at(&cache.tag("bob", "pw", "$hash1"), now));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = VerifiedCache::new(8, TTL);
        let tag = cache.tag("ann", "pw", "$hash1");
        let now = Instant::now();
        cache.insert_at(tag, now);
        assert!(cache.contains_at(&tag, now + TTL - Duration::from_millis(1)));
        assert!(!cache.contains_at(&tag, now + TTL));
        // The expired entry is gone, not just hidden.
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_new_password_hash_misses() {
        let cache = VerifiedCache::new(8, TTL);
        let now = Instant::now();
        cache.insert_at(cache.tag("ann", "pw", "$hash1"), now);
        assert!(!cache.contains_at(&cache.tag("ann", "pw", "$hash2"), now));
    }

    #[test]
    fn the_bound_evicts_the_oldest() {
        let cache = VerifiedCache::new(3, TTL);
        let now = Instant::now();
        let tags: Vec<Tag> = (0..4).map(|i| cache.tag("u", &format!("pw{i}"), "$h")).collect();
        for (i, tag) in tags.iter().enumerate() {
            cache.insert_at(*tag, now + Duration::from_secs(i as u64));
        }
        assert_eq!(cache.len(), 3);
        let later = now + Duration::from_secs(4);
        assert!(!cache.contains_at(&tags[0], later), "the oldest entry was evicted");
        assert!(tags[1..].iter().all(|t| cache.contains_at(t, later)));
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let cache = VerifiedCache::new(2, TTL);
        let now = Instant::now();
        let (a, b, c) = (
            cache.tag("a", "1", "h"),
            cache.tag("b", "1", "h"),
            cache.tag("c", "1", "h"),
        );
        cache.insert_at(a, now);
        cache.insert_at(b, now + TTL);
        cache.insert_at(c, now + TTL + Duration::from_secs(1));
        assert!(cache.contains_at(&b, now + TTL + Duration::from_secs(2)));
        assert!(cache.contains_at(&c, now + TTL + Duration::from_secs(2)));
    }

    #[test]
    fn tags_are_keyed_and_unambiguous() {
        let one = VerifiedCache::new(8, TTL);
        let two = VerifiedCache::new(8, TTL);
        assert_ne!(one.tag("ann", "pw", "h"), two.tag("ann", "pw", "h"));
        assert_ne!(one.tag("an", "npw", "h"), one.tag("ann", "pw", "h"));
        assert_ne!(one.tag("ann", "pwh", ""), one.tag("ann", "pw", "h"));
    }

    #[test]
    fn zero_capacity_or_ttl_caches_nothing() {
        let now = Instant::now();
        for cache in [VerifiedCache::new(0, TTL), VerifiedCache::new(8, Duration::ZERO)] {
            let tag = cache.tag("ann", "pw", "h");
            cache.insert_at(tag, now);
            assert!(!cache.contains_at(&tag, now));
        }
    }

    #[test]
    fn the_ttl_is_capped() {
        assert_eq!(VerifiedCache::new(1, Duration::from_secs(86_400)).ttl(), MAX_TTL);
        assert_eq!(VerifiedCache::new(1, Duration::MAX).ttl(), MAX_TTL);
    }
}
