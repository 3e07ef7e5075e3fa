//! Idempotency keys (README, "Retries"), as the stores keep them: a key is claimed before its
//! request runs, and completed with the request's kept answer in the same step as the request's
//! write, so that no crash can leave the write without its key or the key without its write.
//!
//! The store knows nothing of HTTP: a kept answer is bytes and a few fields, made by the caller.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

/// A request's idempotency key, in the scope of its client (a digest of its write token; empty
/// without tokens), with the fingerprint of the request (method, path, body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    pub scope: Vec<u8>,
    pub key: String,
    pub fingerprint: [u8; 32],
}

/// The answer kept for a key: what a repeat of its request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// A key claimed by the request that runs it: its owner's mark, which the completion checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub request: KeyRequest,
    pub owner: u64,
}

/// What a claim finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its last use has expired): the request runs, under this lease.
    Fresh(Lease),
    /// The same request ran already: its kept answer.
    Replay(Arc<Kept>),
    /// The key was used for another request.
    OtherRequest,
    /// The key's first request is still running.
    InFlight,
    /// As many keys are live as the store may hold.
    Full,
}

/// A write's idempotency key, completed with the write: its lease, how long its answer is kept,
/// and how that answer is made from the write's outcome (`None`: an answer not kept, a 5xx,
/// which gives the key up so that a retry runs again).
pub struct Keyed<'a> {
    pub lease: &'a Lease,
    pub ttl: Duration,
    pub answer: &'a (dyn Fn(&Result<super::Stored, super::StoreError>) -> Option<Kept> + Sync),
}

/// What a key is found to be before its request's body is read: the request runs under a new
/// claim (its fingerprint set once the body is read), or its key's first request is still
/// running, or has run (its answer, or a 422, once the fingerprints are compared: `claim`), or
/// there is no room for another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Early {
    Claimed(Lease),
    InFlight,
    Done,
    Full,
}

/// How long keys live: a completed key's answer for `ttl`; a claim for `lease` from its request's
/// last sign of life (the claim, each renewal while its body comes, the body read whole), after
/// which a request whose first run never completed (its server stopped) may run again.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    pub ttl: Duration,
    pub lease: Duration,
    pub max_keys: usize,
}

/// The keys of the in-memory store, kept under its lock with the languages.
#[derive(Default)]
pub(crate) struct KeyTable {
    entries: HashMap<(Vec<u8>, String), Entry>,
    next_owner: u64,
}

enum Entry {
    Running {
        /// Unknown until the request's body is read.
        fingerprint: Option<[u8; 32]>,
        owner: u64,
        until: Instant,
    },
    Done {
        fingerprint: [u8; 32],
        kept: Arc<Kept>,
        until: Instant,
    },
}

impl KeyTable {
    /// Claims `request`'s key at `now`.
    pub(crate) fn claim(&mut self, request: KeyRequest, now: Instant, limits: KeyLimits) -> Claim {
        let id = (request.scope.clone(), request.key.clone());
        match self.entries.get(&id) {
            Some(Entry::Done {
                fingerprint,
                kept,
                until,
            }) if *until > now => {
                return if *fingerprint == request.fingerprint {
                    Claim::Replay(Arc::clone(kept))
                } else {
                    Claim::OtherRequest
                };
            }
            Some(Entry::Running {
                fingerprint, until, ..
            }) if *until > now => {
                return if fingerprint.is_none_or(|fingerprint| fingerprint == request.fingerprint) {
                    Claim::InFlight
                } else {
                    Claim::OtherRequest
                };
            }
            // Expired: the key is new again.
            _ => {}
        }
        match self.run(id, Some(request.fingerprint), now, limits) {
            Some(owner) => Claim::Fresh(Lease { request, owner }),
            None => Claim::Full,
        }
    }

    /// Claims the key `id` for a request that runs now (its fingerprint known or not): its
    /// owner's mark, or `None` when as many keys are live as the table may hold.
    fn run(
        &mut self,
        id: (Vec<u8>, String),
        fingerprint: Option<[u8; 32]>,
        now: Instant,
        limits: KeyLimits,
    ) -> Option<u64> {
        if !self.entries.contains_key(&id) && self.entries.len() >= limits.max_keys {
            self.entries.retain(|_, entry| entry.until() > now);
            if self.entries.len() >= limits.max_keys {
                return None;
            }
        }
        self.next_owner += 1;
        let owner = self.next_owner;
        self.entries.insert(
            id,
            Entry::Running {
                fingerprint,
                owner,
                until: later(now, limits.lease),
            },
        );
        Some(owner)
    }

    /// Looks at `scope`'s `key` before its request's body is read, and claims it if it is new.
    pub(crate) fn claim_early(
        &mut self,
        scope: &[u8],
        key: &str,
        now: Instant,
        limits: KeyLimits,
    ) -> Early {
        let id = (scope.to_vec(), key.to_owned());
        match self.entries.get(&id) {
            Some(Entry::Done { until, .. }) if *until > now => return Early::Done,
            Some(Entry::Running { until, .. }) if *until > now => return Early::InFlight,
            _ => {}
        }
        let Some(owner) = self.run(id, None, now, limits) else {
            return Early::Full;
        };
        Early::Claimed(Lease {
            request: KeyRequest {
                scope: scope.to_vec(),
                key: key.to_owned(),
                fingerprint: [0; 32],
            },
            owner,
        })
    }

    /// Renews `lease`'s claim at `now`, for `limits.lease` more; with `read`, its request's body
    /// has been read and its fingerprint is set.
    pub(crate) fn renew(&mut self, lease: &Lease, read: bool, now: Instant, limits: KeyLimits) {
        if let Some(Entry::Running {
            fingerprint,
            owner,
            until,
        }) = self
            .entries
            .get_mut(&(lease.request.scope.clone(), lease.request.key.clone()))
            && *owner == lease.owner
        {
            if read {
                *fingerprint = Some(lease.request.fingerprint);
            }
            *until = later(now, limits.lease);
        }
    }

    /// Whether `lease` still holds its key (its claim has not been taken over).
    pub(crate) fn holds(&self, lease: &Lease) -> bool {
        matches!(
            self.entries.get(&(lease.request.scope.clone(), lease.request.key.clone())),
            Some(Entry::Running { owner, .. }) if *owner == lease.owner
        )
    }

    /// Completes `lease`'s key with its answer, kept until `now + ttl`; false if the lease was
    /// lost meanwhile.
    pub(crate) fn complete(
        &mut self,
        lease: &Lease,
        kept: Kept,
        now: Instant,
        ttl: Duration,
    ) -> bool {
        if !self.holds(lease) {
            return false;
        }
        self.entries.insert(
            (lease.request.scope.clone(), lease.request.key.clone()),
            Entry::Done {
                fingerprint: lease.request.fingerprint,
                kept: Arc::new(kept),
                until: later(now, ttl),
            },
        );
        true
    }

    /// Gives `lease`'s key up: its request may run again (it failed with a 5xx).
    pub(crate) fn release(&mut self, lease: &Lease) {
        if self.holds(lease) {
            self.entries
                .remove(&(lease.request.scope.clone(), lease.request.key.clone()));
        }
    }
}

/// `now` plus `duration`, or as far as the clock goes.
fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

impl Entry {
    fn until(&self) -> Instant {
        match self {
            Self::Running { until, .. } | Self::Done { until, .. } => *until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: KeyLimits = KeyLimits {
        ttl: Duration::from_secs(60),
        lease: Duration::from_secs(10),
        max_keys: 2,
    };

    fn request(key: &str, body: u8) -> KeyRequest {
        KeyRequest {
            scope: Vec::new(),
            key: key.to_owned(),
            fingerprint: [body; 32],
        }
    }

    fn kept() -> Kept {
        Kept {
            status: 201,
            content_type: Some("application/json".to_owned()),
            etag: Some("\"tag\"".to_owned()),
            location: Some("/programming_languages/Rust".to_owned()),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_key_runs_once_then_replays_its_answer() {
        let mut table = KeyTable::default();
        let now = Instant::now();
        let Claim::Fresh(lease) = table.claim(request("a", 1), now, LIMITS) else {
            panic!("a new key");
        };
        assert_eq!(table.claim(request("a", 1), now, LIMITS), Claim::InFlight);
        assert_eq!(
            table.claim(request("a", 2), now, LIMITS),
            Claim::OtherRequest
        );
        assert!(table.complete(&lease, kept(), now, LIMITS.ttl));
        assert_eq!(
            table.claim(request("a", 1), now, LIMITS),
            Claim::Replay(Arc::new(kept()))
        );
        assert_eq!(
            table.claim(request("a", 2), now, LIMITS),
            Claim::OtherRequest
        );
        // Expired, the key is new again.
        let later = now + LIMITS.ttl + Duration::from_secs(1);
        assert!(matches!(
            table.claim(request("a", 2), later, LIMITS),
            Claim::Fresh(_)
        ));
    }

    #[test]
    fn a_claim_lasts_its_lease_from_its_last_renewal() {
        let mut table = KeyTable::default();
        let now = Instant::now();
        let Early::Claimed(mut lease) = table.claim_early(b"", "a", now, LIMITS) else {
            panic!("a new key");
        };
        // Its body still coming, renewed before its lease ends: the claim holds past it.
        let reading = now + LIMITS.lease / 2;
        table.renew(&lease, false, reading, LIMITS);
        let past_first_lease = now + LIMITS.lease + Duration::from_secs(1);
        assert_eq!(
            table.claim_early(b"", "a", past_first_lease, LIMITS),
            Early::InFlight
        );
        lease.request.fingerprint = [1; 32];
        table.renew(&lease, true, past_first_lease, LIMITS);
        assert_eq!(
            table.claim(request("a", 2), past_first_lease, LIMITS),
            Claim::OtherRequest,
            "its fingerprint is known"
        );
        // No sign of life for a whole lease (its server stopped): the key is free.
        let stopped = past_first_lease + LIMITS.lease + Duration::from_secs(1);
        assert!(matches!(
            table.claim(request("a", 1), stopped, LIMITS),
            Claim::Fresh(_)
        ));
    }

    #[test]
    fn a_claim_whose_request_never_completed_may_be_taken_over() {
        let mut table = KeyTable::default();
        let now = Instant::now();
        let Claim::Fresh(first) = table.claim(request("a", 1), now, LIMITS) else {
            panic!("a new key");
        };
        let later = now + LIMITS.lease + Duration::from_secs(1);
        let Claim::Fresh(second) = table.claim(request("a", 1), later, LIMITS) else {
            panic!("taken over");
        };
        assert!(
            !table.complete(&first, kept(), later, LIMITS.ttl),
            "the first lost it"
        );
        assert!(table.complete(&second, kept(), later, LIMITS.ttl));
    }

    #[test]
    fn live_keys_are_bounded_and_a_released_key_runs_again() {
        let mut table = KeyTable::default();
        let now = Instant::now();
        let Claim::Fresh(a) = table.claim(request("a", 1), now, LIMITS) else {
            panic!("a");
        };
        assert!(matches!(
            table.claim(request("b", 1), now, LIMITS),
            Claim::Fresh(_)
        ));
        assert_eq!(table.claim(request("c", 1), now, LIMITS), Claim::Full);
        table.release(&a);
        assert!(matches!(
            table.claim(request("c", 1), now, LIMITS),
            Claim::Fresh(_)
        ));
        // Once the others expire, there is room again.
        let later = now + LIMITS.ttl + Duration::from_secs(1);
        assert!(matches!(
            table.claim(request("d", 1), later, LIMITS),
            Claim::Fresh(_)
        ));
    }
}
