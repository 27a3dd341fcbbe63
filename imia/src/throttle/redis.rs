//! [`RedisThrottle`]: failure counts in Redis, shared by every server.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use ::redis::{ErrorKind, RedisError};

use super::{
    Attempt, LoginThrottle, ThrottlePolicy,
    shared::{Counter, KeyMaker, millis, now_millis},
};
use crate::{
    SecretKey,
    crypto::hex,
    deadline,
    error::{BoxError, ProviderError},
};

/// The key prefix unless configured.
const DEFAULT_PREFIX: &str = "imia:throttle:";

/// Every operation of the throttle, run by Redis as one script: nothing else runs between its
/// check and its update, so parallel attempts on any number of servers are counted one by one.
///
/// Per counter `i` (a username's or an address's), `KEYS[2i-1]` is a sorted set of its recent
/// failures and `KEYS[2i]` one of its attempts in flight, each member scored by its time in
/// Unix milliseconds. `ARGV`: the operation, now, a nonce naming this call's entries, the cutoff
/// of attempts in flight and their lifetime; then per counter its `max`, the cutoff of its
/// failures, its window, whether a success clears it, and its burst allowance. Cutoffs are computed by the caller:
/// the script does no arithmetic on times.
const SCRIPT: &str = r"
local op, now, nonce = ARGV[1], ARGV[2], ARGV[3]
local pending_cutoff, in_flight = ARGV[4], ARGV[5]
local n = #KEYS / 2
local function arg(i, j) return ARGV[5 + 5 * (i - 1) + j] end
local function prune(i)
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i - 1], '-inf', arg(i, 2))
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', pending_cutoff)
end
if op == 'allow' then
  for i = 1, n do
    prune(i)
    local failures = redis.call('ZCARD', KEYS[2 * i - 1])
    local max = tonumber(arg(i, 1))
    if failures >= max then return 0 end
    if failures + redis.call('ZCARD', KEYS[2 * i]) >= max + tonumber(arg(i, 5)) then return 0 end
  end
  for i = 1, n do
    redis.call('ZADD', KEYS[2 * i], now, nonce)
    redis.call('PEXPIRE', KEYS[2 * i], in_flight)
  end
  return 1
elseif op == 'failed' then
  for i = 1, n do
    prune(i)
    redis.call('ZPOPMIN', KEYS[2 * i])
    redis.call('ZADD', KEYS[2 * i - 1], now, nonce)
    local extra = redis.call('ZCARD', KEYS[2 * i - 1]) - math.max(tonumber(arg(i, 1)), 1)
    if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2 * i - 1], 0, extra - 1) end
    redis.call('PEXPIRE', KEYS[2 * i - 1], arg(i, 3))
  end
  return 1
elseif op == 'abandoned' then
  for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', pending_cutoff)
    redis.call('ZPOPMIN', KEYS[2 * i])
  end
  return 1
elseif op == 'succeeded' then
  for i = 1, n do
    if arg(i, 4) == '1' then
      redis.call('DEL', KEYS[2 * i - 1], KEYS[2 * i])
    else
      redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', pending_cutoff)
      redis.call('ZPOPMIN', KEYS[2 * i])
    end
  end
  return 1
end
return redis.error_reply('imia throttle: unknown operation')
";

/// A [`LoginThrottle`] counting in Redis, so that every server behind a load balancer shares
/// one count: the same [`ThrottlePolicy`], and the same verdicts, as
/// [`InMemoryThrottle`](super::InMemoryThrottle), and attempts in flight count too (see [the
/// module](super#which-throttle)). Feature `redis`.
///
/// - **Atomic.** Each check-and-update is one Lua script, which Redis runs without
///   interleaving: parallel attempts on several servers never get more than `max` through a
///   window.
/// - **Keys.** `<prefix><hash>:f` (failures) and `<prefix><hash>:p` (attempts in flight),
///   sorted sets scored by time. The hash is an HMAC of the lower-cased username (or of the
///   address) under a key derived from the app's [`SecretKey`]: Redis never holds a username as
///   typed, which may be a password typed into the wrong field. Give every server the same
///   secret, or they count apart.
/// - **Expiry.** Every key expires with its newest entry, so nothing outlives its window.
/// - **Failures.** An unreachable Redis, a pool timeout, or an operation slower than the
///   [timeout](Self::timeout) (10 seconds by default) is [`ProviderError::Unavailable`]: the
///   login answers 503 instead of checking the password. An error reply is
///   [`ProviderError::Backend`] (500).
/// - **Clock.** Times come from each server's clock: keep the servers' clocks synchronised.
///
/// A plain (non-cluster) Redis, through a [`deadpool_redis::Pool`]
/// ([`redis_pool`](Self::redis_pool) makes one).
///
/// # Examples
///
/// ```no_run
/// use std::{sync::Arc, time::Duration};
/// use imia::{
///     SecretKey, UserLike,
///     authenticator::BasicAuthenticator,
///     login::LoginManager,
///     password::Argon2Hasher,
///     provider::InMemoryProvider,
///     throttle::{RedisThrottle, ThrottlePolicy},
/// };
///
/// #[derive(Clone, UserLike)]
/// struct User { id: u32, email: String, password_hash: String }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = SecretKey::from_base64(&std::env::var("IMIA_SECRET_KEY")?)?;
/// let policy = ThrottlePolicy::new()
///     .per_username(10, Duration::from_secs(300))
///     .per_address(100, Duration::from_secs(300));
/// let pool = RedisThrottle::redis_pool("redis://127.0.0.1:6379")?;
/// let throttle = Arc::new(RedisThrottle::new(pool, &secret, policy));
///
/// let users = InMemoryProvider::new(Vec::<User>::new());
/// let hasher = Argon2Hasher::default();
/// let logins = LoginManager::builder(users.clone(), hasher.clone(), secret)
///     .throttle(Arc::clone(&throttle))
///     .build();
/// let basic = BasicAuthenticator::new(users, hasher).throttle(throttle);
/// # let _ = (logins, basic);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisThrottle {
    pool: deadpool_redis::Pool,
    keys: KeyMaker,
    policy: ThrottlePolicy,
    prefix: Arc<str>,
    timeout: Duration,
}

impl fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its manager holds the URL, password included.
        f.debug_struct("RedisThrottle")
            .field("policy", &self.policy)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What the script is asked to do.
#[derive(Debug, Clone, Copy)]
enum Op {
    Allow,
    Failed,
    Succeeded,
    Abandoned,
}

impl RedisThrottle {
    /// A throttle applying `policy`, counting in the Redis behind `pool` under keys made with
    /// `secret` (the app's key: the same on every server), each operation limited to 10 seconds.
    pub fn new(pool: deadpool_redis::Pool, secret: &SecretKey, policy: ThrottlePolicy) -> Self {
        Self {
            pool,
            keys: KeyMaker::new(secret),
            policy,
            prefix: DEFAULT_PREFIX.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// A pool of connections to the Redis at `url` (`redis://[:password@]host:port[/db]`), for
    /// [`new`](Self::new): at most 16 connections, and 5 seconds to wait for one, to open one
    /// or to check a pooled one. Connections open on first use.
    ///
    /// ```
    /// use imia::throttle::RedisThrottle;
    ///
    /// let pool = RedisThrottle::redis_pool("redis://127.0.0.1:6379").unwrap(); // connects later
    /// assert!(RedisThrottle::redis_pool("http://not-redis").is_err());
    /// # let _ = pool;
    /// ```
    ///
    /// # Errors
    ///
    /// When `url` is not a Redis URL.
    pub fn redis_pool(url: &str) -> Result<deadpool_redis::Pool, BoxError> {
        let wait = Some(Duration::from_secs(5));
        let mut config = deadpool_redis::Config::from_url(url);
        config.pool = Some(deadpool_redis::PoolConfig {
            max_size: 16,
            timeouts: deadpool_redis::Timeouts {
                wait,
                create: wait,
                recycle: wait,
            },
            ..deadpool_redis::PoolConfig::default()
        });
        Ok(config.create_pool(Some(deadpool_redis::Runtime::Tokio1))?)
    }

    /// Keys start with `prefix` (default `imia:throttle:`): give apps sharing one Redis
    /// different prefixes.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest an operation may take, checkout included (default 10 seconds); a slower one
    /// fails as [`ProviderError::Unavailable`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limits it applies.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// Runs `op` for the counters of `attempt`; `true` when the script answered 1.
    ///
    /// On an actix runtime the script runs in a task of its own, to completion even when the
    /// request that asked is cancelled, and a place `allow` took for a request that never hears
    /// of it is given back at once instead of lapsing.
    async fn run(&self, op: Op, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        let counters = self.keys.counters(&self.policy, attempt);
        if counters.is_empty() {
            return Ok(true);
        }
        if actix_rt::System::try_current().is_none() {
            return self.run_counters(op, &counters).await;
        }
        let this = self.clone();
        let (answer, asked) = tokio::sync::oneshot::channel();
        actix_rt::spawn(async move {
            let result = this.run_counters(op, &counters).await;
            if let Err(Ok(true)) = answer.send(result)
                && matches!(op, Op::Allow)
                && let Err(err) = this.run_counters(Op::Abandoned, &counters).await
            {
                tracing::warn!(error.display = %err, "could not give a cancelled attempt's place back; it lapses");
            }
        });
        asked
            .await
            .unwrap_or_else(|_| Err(ProviderError::unavailable("the login throttle's task ended")))
    }

    /// Runs the script for `op` on `counters`.
    async fn run_counters(&self, op: Op, counters: &[Counter]) -> Result<bool, ProviderError> {
        let command = self.command(op, counters, now_millis());
        let answer: i64 = deadline::within(
            self.timeout,
            async {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                command.query_async(&mut conn).await.map_err(redis_error)
            },
            ProviderError::unavailable,
        )
        .await?;
        Ok(answer == 1)
    }

    /// The `EVAL` of [`SCRIPT`] for `op` on `counters` at `now`.
    fn command(&self, op: Op, counters: &[Counter], now: i64) -> ::redis::Cmd {
        let in_flight = millis(self.policy.in_flight_timeout());
        let mut command = ::redis::cmd("EVAL");
        command.arg(SCRIPT).arg(counters.len() * 2);
        for counter in counters {
            command
                .arg(format!("{}{}:f", self.prefix, counter.key))
                .arg(format!("{}{}:p", self.prefix, counter.key));
        }
        let op = match op {
            Op::Allow => "allow",
            Op::Failed => "failed",
            Op::Succeeded => "succeeded",
            Op::Abandoned => "abandoned",
        };
        command
            .arg(op)
            .arg(now)
            .arg(nonce())
            .arg(now.saturating_sub(in_flight))
            .arg(in_flight);
        for counter in counters {
            let window = millis(counter.window);
            command
                .arg(counter.max)
                .arg(now.saturating_sub(window))
                .arg(window)
                .arg(if counter.clears_on_success { "1" } else { "0" })
                .arg(counter.burst);
        }
        command
    }
}

impl LoginThrottle for RedisThrottle {
    async fn allow(&self, attempt: Attempt<'_>) -> Result<bool, ProviderError> {
        self.run(Op::Allow, attempt).await
    }

    async fn failed(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.run(Op::Failed, attempt).await.map(drop)
    }

    async fn succeeded(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.run(Op::Succeeded, attempt).await.map(drop)
    }

    async fn abandoned(&self, attempt: Attempt<'_>) -> Result<(), ProviderError> {
        self.run(Op::Abandoned, attempt).await.map(drop)
    }
}

/// A random value for telling apart entries recorded in the same millisecond.
fn nonce() -> String {
    let mut bytes = [0u8; 8];
    // The operating system's generator does not fail on the platforms imia runs on; were it to,
    // the clock's nanoseconds still tell most entries apart.
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        bytes[..4].copy_from_slice(&nanos.to_le_bytes());
    }
    hex(&bytes)
}

/// No connection from the pool: Redis cannot be reached now.
pub(crate) fn pool_error(err: deadpool_redis::PoolError) -> ProviderError {
    ProviderError::unavailable(err)
}

/// Unavailable when Redis cannot be reached or cannot serve now, else a backend error.
pub(crate) fn redis_error(err: RedisError) -> ProviderError {
    let transient = matches!(
        err.kind(),
        ErrorKind::BusyLoadingError | ErrorKind::TryAgain | ErrorKind::MasterDown | ErrorKind::ReadOnly
    );
    if transient || err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() || err.is_timeout()
    {
        ProviderError::unavailable(err)
    } else {
        ProviderError::backend(err)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn throttle() -> RedisThrottle {
        let pool = RedisThrottle::redis_pool("redis://127.0.0.1:1").unwrap();
        let policy = ThrottlePolicy::new()
            .per_username(3, Duration::from_secs(60))
            .per_address(5, Duration::from_millis(1_500))
            .in_flight(Duration::from_secs(20));
        RedisThrottle::new(pool, &SecretKey::from_bytes(&[1; 32]).unwrap(), policy).prefix("p:")
    }

    fn args(command: &::redis::Cmd) -> Vec<String> {
        command
            .args_iter()
            .map(|arg| match arg {
                ::redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                ::redis::Arg::Cursor => "<cursor>".to_owned(),
            })
            .collect()
    }

    #[test]
    fn the_script_gets_hashed_keys_and_precomputed_cutoffs() {
        let t = throttle();
        let attempt = Attempt {
            username: "Ann@Example.com",
            addr: Some(IpAddr::from([192, 0, 2, 7])),
        };
        let counters = t.keys.counters(&t.policy, attempt);
        let args = args(&t.command(Op::Allow, &counters, 1_000_000));
        assert_eq!(args[0], "EVAL");
        assert_eq!(args[2], "4");
        let keys = &args[3..7];
        assert!(keys.iter().all(|k| k.starts_with("p:") && k.len() == 2 + 64 + 2));
        assert!(keys[0].ends_with(":f") && keys[1].ends_with(":p"));
        let argv = &args[7..];
        assert_eq!(argv[0], "allow");
        assert_eq!(argv[1], "1000000");
        assert_eq!(argv[2].len(), 16, "a nonce");
        assert_eq!((argv[3].as_str(), argv[4].as_str()), ("980000", "20000"));
        let user = counters.iter().position(|c| c.clears_on_success).unwrap();
        let per = |i: usize| argv[5 + 5 * i..10 + 5 * i].to_vec();
        assert_eq!(per(user), ["3", "940000", "60000", "1", "0"]);
        assert_eq!(per(1 - user), ["5", "998500", "1500", "0", "0"]);
        assert_ne!(nonce(), nonce());
        let all = args.join(" ").to_lowercase();
        assert!(!all.contains("ann") && !all.contains("192.0.2.7"), "{all}");
    }

    #[test]
    fn an_unreachable_redis_is_unavailable_and_nothing_is_allowed() {
        actix_rt::System::new().block_on(async {
            let t = throttle().timeout(Duration::from_secs(5));
            let attempt = Attempt {
                username: "ann",
                addr: None,
            };
            for result in [
                t.allow(attempt).await.map(drop),
                t.failed(attempt).await,
                t.succeeded(attempt).await,
            ] {
                let err = result.unwrap_err();
                assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
                assert_eq!(err.status(), 503);
            }
            // No limit applies: no need to ask Redis.
            let open = RedisThrottle::new(
                RedisThrottle::redis_pool("redis://127.0.0.1:1").unwrap(),
                &SecretKey::from_bytes(&[1; 32]).unwrap(),
                ThrottlePolicy::new(),
            );
            assert!(open.allow(attempt).await.unwrap());
            assert!(!format!("{t:?}").contains("127.0.0.1"));
        });
    }
}
