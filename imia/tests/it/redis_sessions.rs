//! The per-user session index in Redis (`RedisSessionIndex`), around a session store, against
//! the real Redis server.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key};
use actix_web::cookie::time::Duration as Ttl;
use imia::sessions::{RedisSessionIndex, SessionIndex as _};

use crate::servers::unique_name;

/// A session store in memory: what the index wraps (actix-session's Redis store in the demo).
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<HashMap<String, HashMap<String, String>>>>);

impl SessionStore for Memory {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        Ok(self.0.lock().unwrap().get(key.as_ref()).cloned())
    }
    async fn save(&self, state: HashMap<String, String>, _: &Ttl) -> Result<SessionKey, SaveError> {
        let key = generate_session_key();
        self.0.lock().unwrap().insert(key.as_ref().to_owned(), state);
        Ok(key)
    }
    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        _: &Ttl,
    ) -> Result<SessionKey, UpdateError> {
        self.0.lock().unwrap().insert(key.as_ref().to_owned(), state);
        Ok(key)
    }
    async fn update_ttl(&self, _: &SessionKey, _: &Ttl) -> anyhow::Result<()> {
        Ok(())
    }
    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        self.0.lock().unwrap().remove(key.as_ref());
        Ok(())
    }
}

const MINUTE: Ttl = Ttl::seconds(60);

fn login(user: &str, handle: &str, created_ms: i64) -> HashMap<String, String> {
    HashMap::from([
        ("_auth_user_id".to_owned(), serde_json::to_string(user).unwrap()),
        ("_auth_user_hash".to_owned(), "\"fp\"".to_owned()),
        (
            "_auth_session".to_owned(),
            serde_json::json!({"handle": handle, "created_at": created_ms, "ip": "10.0.0.9", "user_agent": "Test/1"})
                .to_string(),
        ),
    ])
}

/// An index under a prefix of its own, or `None` (skipped) when Redis does not answer.
async fn fixture(name: &str) -> Option<(RedisSessionIndex<Memory>, Memory)> {
    let pool = crate::servers::redis_pool().await?;
    let memory = Memory::default();
    let index = RedisSessionIndex::new(memory.clone(), pool).prefix(&format!("{}:", unique_name(name)));
    Some((index, memory))
}

#[actix_web::test]
async fn redis_lists_a_users_login_sessions_newest_first() {
    let Some((store, _)) = fixture("list").await else {
        return;
    };
    store.save(login("ann", "h-old", 1_000_000), &MINUTE).await.unwrap();
    store.save(login("ann", "h-new", 2_000_000), &MINUTE).await.unwrap();
    store.save(login("bob", "h-bob", 3_000_000), &MINUTE).await.unwrap();
    store
        .save(HashMap::from([("cart".into(), "\"tea\"".into())]), &MINUTE)
        .await
        .unwrap();

    let ann = store.sessions("ann").await.unwrap();
    let ids: Vec<&str> = ann.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["h-new", "h-old"]);
    assert_eq!((ann[0].created_at, ann[0].last_seen_at), (2_000, 2_000));
    assert_eq!(ann[0].ip.as_deref(), Some("10.0.0.9"));
    assert_eq!(ann[0].user_agent.as_deref(), Some("Test/1"));
    assert_eq!(store.sessions("bob").await.unwrap().len(), 1);
    assert!(store.sessions("nobody").await.unwrap().is_empty());
}

#[actix_web::test]
async fn redis_ends_only_the_users_own_sessions_and_follows_the_store() {
    let Some((store, memory)) = fixture("end").await else {
        return;
    };
    let a1 = store.save(login("ann", "h-a1", 1), &MINUTE).await.unwrap();
    let a2 = store.save(login("ann", "h-a2", 2), &MINUTE).await.unwrap();
    let a3 = store.save(login("ann", "h-a3", 3), &MINUTE).await.unwrap();
    let bob = store.save(login("bob", "h-bob", 4), &MINUTE).await.unwrap();

    assert!(
        !store.end_session("bob", "h-a1").await.unwrap(),
        "another user's session"
    );
    assert!(!store.end_session("ann", "h-unknown").await.unwrap());
    assert!(!store.end_session("ann", "bad id").await.unwrap());
    assert!(store.load(&a1).await.unwrap().is_some());

    assert!(store.end_session("ann", "h-a1").await.unwrap());
    assert_eq!(store.load(&a1).await.unwrap(), None, "deleted from the store");
    assert_eq!(store.end_sessions("ann", Some("h-a2")).await.unwrap(), 1);
    assert!(store.load(&a2).await.unwrap().is_some());
    assert_eq!(store.load(&a3).await.unwrap(), None);
    assert!(store.load(&bob).await.unwrap().is_some(), "bob's untouched");

    // A logout (delete) and a renewal (new key, same handle) keep the index in step.
    store.delete(&a2).await.unwrap();
    assert!(store.sessions("ann").await.unwrap().is_empty());
    let state = memory.load(&bob).await.unwrap().unwrap();
    store.delete(&bob).await.unwrap();
    let renewed = store.save(state, &MINUTE).await.unwrap();
    let listed = store.sessions("bob").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "h-bob");
    // A session whose login is removed leaves the index.
    store
        .update(renewed, HashMap::from([("cart".into(), "\"tea\"".into())]), &MINUTE)
        .await
        .unwrap();
    assert!(store.sessions("bob").await.unwrap().is_empty());
}

#[actix_web::test]
async fn redis_index_entries_expire_with_their_sessions() {
    let Some((store, _)) = fixture("expiry").await else {
        return;
    };
    store
        .save(login("ann", "h-short", 1), &Ttl::milliseconds(300))
        .await
        .unwrap();
    store.save(login("ann", "h-long", 2), &MINUTE).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ids: Vec<String> = store.sessions("ann").await.unwrap().into_iter().map(|s| s.id).collect();
        if ids == ["h-long"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the short session never expired: {ids:?}"
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
