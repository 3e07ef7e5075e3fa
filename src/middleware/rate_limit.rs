//! Rate limits (`--rate-limit N/SECS`, README "Rate limits"): each client gets N requests per SECS
//! seconds, in bursts of up to N, by governor's GCRA; beyond, a 429. Every limited response says
//! where its client stands (`RateLimit-Policy`, `RateLimit`, draft-ietf-httpapi-ratelimit-headers).
//!
//! The clients are counted in memory, each server alone (an IPv6 address by its /64). A client
//! whose count is full again is forgotten at the next sweep; past `MAX_CLIENTS` counted at once (a
//! flood of addresses), every address is counted in one of `CROWD_BUCKETS` shared counts by hash
//! until the crowd has gone, so memory stays bounded whatever the number of clients.

use std::{
    hash::{BuildHasher, Hash, RandomState},
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use poem::{
    IntoResponse, Response,
    http::{HeaderMap, HeaderName, HeaderValue},
};

use crate::{api::Limited, config::RateLimit, problem::Problem};

/// Clients counted at once at most before new addresses share counts.
const MAX_CLIENTS: usize = 100_000;
/// The counts a crowd of new addresses shares, by hash.
const CROWD_BUCKETS: u64 = 4096;
/// How often the count of clients is looked at (it costs a lock per shard): every this many
/// requests.
const SWEEP_EVERY: u64 = 1024;

pub(super) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub(super) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Who a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// The write token it carries (its place among the configured ones), when it is valid.
    Token(usize),
    /// Its address.
    Address(IpAddr),
    /// A share of the counts a crowd of new addresses uses.
    Crowd(u64),
}

/// What the limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let through: `remaining` more may follow at once, and the client's whole quota is back in
    /// `reset` seconds.
    Allowed { remaining: u32, reset: u64 },
    /// Over the limit: the next request may come in `retry_after` seconds.
    Refused { retry_after: u64 },
}

type Limiter =
    RateLimiter<Client, DefaultKeyedStateStore<Client>, DefaultClock, StateInformationMiddleware>;

/// The limit, and the clients' counts.
pub(crate) struct RateLimits {
    limiter: Limiter,
    requests: u32,
    /// The time one request's share of the quota takes to come back.
    period: Duration,
    /// `RateLimit-Policy`, the same on every response.
    policy: HeaderValue,
    checks: AtomicU64,
    /// Whether addresses are counted in the crowd's shares, and the hash that shares them.
    crowded: AtomicBool,
    crowd_hash: RandomState,
}

impl RateLimits {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let requests = limit.requests.get();
        // A whole quota comes back over the window: one request's share every window / N.
        let window = Duration::from_secs(limit.seconds.get());
        let period = (window / requests).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(limit.requests);
        let policy = format!("\"default\";q={requests};w={}", limit.seconds.get());
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            requests,
            period,
            policy: HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("")),
            checks: AtomicU64::new(0),
            crowded: AtomicBool::new(false),
            crowd_hash: RandomState::new(),
        }
    }

    /// Counts a request of `client` and says whether it may go on.
    pub(crate) fn check(&self, client: Client) -> Verdict {
        self.sweep_now_and_then();
        let client = match client {
            Client::Address(address) if self.crowded.load(Ordering::Relaxed) => {
                Client::Crowd(self.crowd_hash.hash_one(address) % CROWD_BUCKETS)
            }
            Client::Address(address) => Client::Address(network(address)),
            other => other,
        };
        match self.limiter.check_key(&client) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                let used = self.requests.saturating_sub(remaining);
                Verdict::Allowed {
                    remaining,
                    reset: whole_seconds(self.period * used),
                }
            }
            Err(not_until) => Verdict::Refused {
                retry_after: whole_seconds(not_until.wait_time_from(self.limiter.clock().now()))
                    .max(1),
            },
        }
    }

    /// The `RateLimit-Policy` and `RateLimit` fields of a response to a request judged `verdict`.
    pub(crate) fn fields(&self, verdict: Verdict, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_POLICY, self.policy.clone());
        headers.insert(RATELIMIT, standing(verdict));
    }

    /// The 429 for a request of `instance` judged `Refused`: a problem, with `Retry-After` and
    /// the limit's fields.
    pub(crate) fn refusal(&self, instance: &str, retry_after: u64) -> Response {
        let standing = standing(Verdict::Refused { retry_after });
        Limited::TooManyRequests(
            Problem::too_many_requests(instance, retry_after).into(),
            retry_after.to_string(),
            self.policy.to_str().unwrap_or_default().to_owned(),
            standing.to_str().unwrap_or_default().to_owned(),
        )
        .into_response()
    }

    /// Forgets the clients whose count is full again, when there may be many: every
    /// `SWEEP_EVERY` requests. Past `MAX_CLIENTS` after a sweep, new addresses
    /// are counted in the crowd's shares until the clients are fewer than half of it.
    fn sweep_now_and_then(&self) {
        let checks = self.checks.fetch_add(1, Ordering::Relaxed);
        if !checks.is_multiple_of(SWEEP_EVERY) {
            return;
        }
        if self.limiter.len() < MAX_CLIENTS / 2 && !self.crowded.load(Ordering::Relaxed) {
            return;
        }
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let clients = self.limiter.len();
        if clients >= MAX_CLIENTS {
            self.crowded.store(true, Ordering::Relaxed);
        } else if clients < MAX_CLIENTS / 2 {
            self.crowded.store(false, Ordering::Relaxed);
        }
    }

    /// The clients counted: tokens, addresses, and the crowd's shares in use.
    pub(crate) fn clients(&self) -> usize {
        self.limiter.len()
    }
}

/// Who an address is, for counting: an IPv4 address, or an IPv6 one's /64, the block one host or
/// one site is given (RFC 6177), so that a host cannot take a fresh quota from each address of it.
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// `RateLimit`'s value: the requests left, and the seconds until the whole quota is back (or,
/// refused, until the next request may come).
fn standing(verdict: Verdict) -> HeaderValue {
    let (remaining, reset) = match verdict {
        Verdict::Allowed { remaining, reset } => (remaining, reset),
        Verdict::Refused { retry_after } => (0, retry_after),
    };
    // Written on the stack: a response's one allocation for it is the header's own.
    let mut value = [0u8; 48];
    let mut at = 0;
    let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
    for part in [
        &b"\"default\";r="[..],
        r.format(remaining).as_bytes(),
        b";t=",
        t.format(reset).as_bytes(),
    ] {
        value[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    HeaderValue::from_bytes(&value[..at]).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `duration` in whole seconds, rounded up: a client that waits that long is not early.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn limits(requests: u32, seconds: u64) -> RateLimits {
        RateLimits::new(RateLimit {
            requests: NonZeroU32::new(requests).expect("requests"),
            seconds: std::num::NonZeroU64::new(seconds).expect("seconds"),
        })
    }

    #[test]
    fn the_quota_passes_and_the_next_request_waits_for_its_share() {
        let limits = limits(3, 60);
        let client = Client::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            limits.check(client),
            Verdict::Allowed {
                remaining: 2,
                reset: 20
            }
        );
        assert_eq!(
            limits.check(client),
            Verdict::Allowed {
                remaining: 1,
                reset: 40
            }
        );
        assert_eq!(
            limits.check(client),
            Verdict::Allowed {
                remaining: 0,
                reset: 60
            }
        );
        let Verdict::Refused { retry_after } = limits.check(client) else {
            panic!("the fourth of three");
        };
        assert!((19..=20).contains(&retry_after), "{retry_after}");
        // Another client has its own count.
        assert!(matches!(
            limits.check(Client::Token(0)),
            Verdict::Allowed { remaining: 2, .. }
        ));
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64() {
        let limits = limits(1, 3600);
        let address = |text: &str| Client::Address(text.parse().expect("an address"));
        assert!(matches!(
            limits.check(address("2001:db8:1:2::1")),
            Verdict::Allowed { .. }
        ));
        assert!(matches!(
            limits.check(address("2001:db8:1:2:ffff::9")),
            Verdict::Refused { .. }
        ));
        assert!(matches!(
            limits.check(address("2001:db8:1:3::1")),
            Verdict::Allowed { .. }
        ));
    }

    #[test]
    fn the_fields_say_where_the_client_stands() {
        let limits = limits(600, 60);
        let mut headers = HeaderMap::new();
        limits.fields(
            Verdict::Allowed {
                remaining: 599,
                reset: 1,
            },
            &mut headers,
        );
        assert_eq!(headers[RATELIMIT_POLICY], "\"default\";q=600;w=60");
        assert_eq!(headers[RATELIMIT], "\"default\";r=599;t=1");
        limits.fields(Verdict::Refused { retry_after: 7 }, &mut headers);
        assert_eq!(headers[RATELIMIT], "\"default\";r=0;t=7");
    }

    #[test]
    fn a_flood_of_addresses_leaves_the_count_of_clients_bounded() {
        let limits = limits(5, 3600);
        for i in 0..(2 * MAX_CLIENTS as u32 + 10_000) {
            let address = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i));
            limits.check(Client::Address(address));
        }
        // Each address has used a request of its quota within the hour: none is forgotten, and
        // the crowd's shares hold the rest.
        let clients = limits.clients();
        assert!(
            clients <= MAX_CLIENTS + SWEEP_EVERY as usize + CROWD_BUCKETS as usize,
            "{clients} clients counted"
        );
        assert!(limits.crowded.load(Ordering::Relaxed));
    }

    #[test]
    fn clients_whose_count_is_full_again_are_forgotten() {
        // One request's share comes back every microsecond: full again at once.
        let limits = limits(1_000_000, 1);
        for i in 0..(MAX_CLIENTS as u32) {
            limits.check(Client::Address(IpAddr::V4(Ipv4Addr::from(i))));
        }
        std::thread::sleep(Duration::from_millis(5));
        for _ in 0..SWEEP_EVERY {
            limits.check(Client::Token(0));
        }
        assert!(limits.clients() < MAX_CLIENTS / 2, "{}", limits.clients());
    }
}
