//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header; README, "Retries"): the key a
//! write carries, read and checked before the write runs.

use bytes::Bytes;
use poem::{
    IntoResponse, Request, Response,
    error::ReadBodyError,
    http::{
        HeaderName, HeaderValue, Method, StatusCode,
        header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION, RETRY_AFTER},
    },
};
use sha2::{Digest, Sha256};

use crate::{
    api::{KeyInUse, KeyReused, RunningKey, parse_key},
    json::BODY_LIMIT_BYTES,
    problem::{Problem, RETRY_AFTER_SECONDS},
    store::{Claim, Early, Kept, KeyLimits, KeyRequest, Lease, Store},
};

/// The keys of the writes: claimed before a write runs, completed with its answer.
pub(crate) struct Keys {
    store: Store,
    limits: KeyLimits,
}

/// What a write's key says before the write runs.
pub(super) enum Begun {
    /// No key: the write runs as it would.
    Unkeyed,
    /// Answered already: a refused key, or the kept answer of the same request.
    Answered(Response),
    /// The write runs under its key, given up if the request ends without an answer.
    Running(Release),
}

impl Keys {
    pub(crate) fn new(store: Store, limits: KeyLimits) -> Self {
        Self { store, limits }
    }

    /// Whether `request` carries an `Idempotency-Key` (valid or not).
    pub(super) fn carried(request: &Request) -> bool {
        request.headers().contains_key(IDEMPOTENCY_KEY)
    }

    /// Reads `request`'s key, if it has one, and claims it in `scope` (its client's).
    pub(super) async fn begin(&self, request: &mut Request, path: &str, scope: Vec<u8>) -> Begun {
        let mut values = request.headers().get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Begun::Unkeyed;
        };
        if values.next().is_some() {
            return answered(Problem::invalid_header(
                path,
                "Idempotency-Key",
                "given more than once",
            ));
        }
        let Some(key) = parse_key(value) else {
            return answered(Problem::invalid_header(
                path,
                "Idempotency-Key",
                "must be a string of 1 to 255 visible ASCII characters, quoted or not",
            ));
        };
        // The key is claimed before the body is read, so that a retry sent while a slow body
        // still comes in finds its first request in flight.
        let early = match self.store.claim_early(&scope, &key, self.limits).await {
            Ok(early) => early,
            Err(_) => return unavailable(path),
        };
        // From here, a request that ends without an answer (its client left) gives its claim up.
        let mut release = Release {
            store: self.store.clone(),
            running: None,
        };
        let mut lease = match early {
            Early::InFlight => return in_flight(path),
            Early::Full => return full(path),
            Early::Claimed(lease) => {
                release.running = Some(RunningKey::new(lease.clone(), self.limits.ttl));
                Some(lease)
            }
            Early::Done => None,
        };
        let fingerprint = match self.read_renewing(request, path, lease.as_ref()).await {
            Ok(fingerprint) => fingerprint,
            Err(refused) => {
                // Its body never came whole: the request never ran, and its key is free again.
                if let Some(lease) = &lease
                    && self
                        .store
                        .settle(lease, None, self.limits.ttl)
                        .await
                        .is_ok()
                {
                    release.running = None;
                }
                return Begun::Answered(refused);
            }
        };
        let lease = match lease.take() {
            Some(mut lease) => {
                lease.request.fingerprint = fingerprint;
                if self.store.renew(&lease, true, self.limits).await.is_err() {
                    if self
                        .store
                        .settle(&lease, None, self.limits.ttl)
                        .await
                        .is_ok()
                    {
                        release.running = None;
                    }
                    return unavailable(path);
                }
                lease
            }
            // Its key has been used: the same request gets its answer, another a 422.
            None => {
                let request = KeyRequest {
                    scope,
                    key,
                    fingerprint,
                };
                match self.store.claim(request, self.limits).await {
                    Ok(Claim::Fresh(lease)) => lease,
                    Ok(Claim::Replay(kept)) => return Begun::Answered(replayed(&kept)),
                    Ok(Claim::InFlight) => return in_flight(path),
                    Ok(Claim::OtherRequest) => {
                        let reused = Problem::key_reused(path).into();
                        return Begun::Answered(
                            KeyReused::UnprocessableEntity(reused).into_response(),
                        );
                    }
                    Ok(Claim::Full) => return full(path),
                    Err(_) => return unavailable(path),
                }
            }
        };
        let running = RunningKey::new(lease, self.limits.ttl);
        release.running = Some(running.clone());
        request.extensions_mut().insert(running);
        Begun::Running(release)
    }

    /// The request's fingerprint (`fingerprinted`), its body read while `lease`'s claim is
    /// renewed every half lease: a slow body keeps its key, and the claim of a request whose
    /// server stopped ends at most a lease after its last renewal.
    async fn read_renewing(
        &self,
        request: &mut Request,
        path: &str,
        lease: Option<&Lease>,
    ) -> Result<[u8; 32], Response> {
        // Pinned where it is made: moved into a pin later, the read (4 KB, most of it poem's body
        // reader) would take its room twice in this future.
        let mut reading = std::pin::pin!(fingerprinted(request, path));
        let Some(lease) = lease else {
            return reading.await;
        };
        let every = self.limits.lease / 2;
        let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                // The body first: one that is already here never sets the renewals' timer.
                biased;
                read = &mut reading => return read,
                _ = renewals.tick() => {
                    // A renewal that fails leaves the claim to its end; the write will find it
                    // lost, or the store out of reach, and answer so.
                    let _ = self.store.renew(lease, false, self.limits).await;
                }
            }
        }
    }

    /// Settles the key of a write that answered `response`: a write that completed it in its
    /// own step leaves nothing to do; any other answer below 500 but a 401 is kept; the rest
    /// gives the key up, so that a retry runs again.
    pub(super) async fn end(&self, mut release: Release, response: &mut Response) {
        let Some(running) = release.running.clone() else {
            return;
        };
        if running.completed() {
            return;
        }
        let status = response.status();
        if status.is_server_error() || status == StatusCode::UNAUTHORIZED {
            if self
                .store
                .settle(&running.lease, None, running.ttl)
                .await
                .is_ok()
            {
                release.running = None;
            }
            return;
        }
        let field = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, etag, location) = (field(CONTENT_TYPE), field(ETAG), field(LOCATION));
        let body = response.take_body().into_vec().await.unwrap_or_default();
        let kept = Kept {
            status: status.as_u16(),
            content_type,
            etag,
            location,
            body: body.clone(),
        };
        response.set_body(body);
        // Kept, or, should the store fail, given up (by `release`, dropped here).
        if self
            .store
            .settle(&running.lease, Some(kept), running.ttl)
            .await
            .is_ok()
        {
            release.running = None;
        }
    }
}

/// Gives a running key up if its request ends without an answer (its client left, its task was
/// dropped), so that a retry need not wait for the lease to expire.
pub(super) struct Release {
    store: Store,
    running: Option<RunningKey>,
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(running) = self.running.take()
            && !running.completed()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            handle.spawn(async move {
                let _ = store.settle(&running.lease, None, running.ttl).await;
            });
        }
    }
}

/// The fingerprint of `request` (method, path, query, body), its body read and put back; or the
/// answer to a body that could not be read whole.
async fn fingerprinted(request: &mut Request, path: &str) -> Result<[u8; 32], Response> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok());
    // A DELETE's body, which the operation ignores, is not read: the method and path are the
    // request. A body longer than any operation reads is refused from its length alone, as the
    // operation would refuse it, unread.
    let body = if request.method() == Method::DELETE {
        Bytes::new()
    } else if declared.is_some_and(|length| length > BODY_LIMIT_BYTES as u64) {
        return Err(Problem::payload_too_large(path, BODY_LIMIT_BYTES).into_response());
    } else {
        read(request, path).await?
    };
    let mut fingerprint = Sha256::new();
    for part in [
        request.method().as_str().as_bytes(),
        request.original_uri().path().as_bytes(),
        request
            .original_uri()
            .query()
            .unwrap_or_default()
            .as_bytes(),
    ] {
        fingerprint.update((part.len() as u64).to_be_bytes());
        fingerprint.update(part);
    }
    fingerprint.update(&body);
    if request.method() != Method::DELETE {
        request.set_body(body);
    }
    Ok(fingerprint.finalize().into())
}

/// `request`'s body, whole, or the answer to one that could not be read.
async fn read(request: &mut Request, path: &str) -> Result<Bytes, Response> {
    match request.take_body().into_bytes_limit(BODY_LIMIT_BYTES).await {
        Ok(body) => Ok(body),
        Err(ReadBodyError::PayloadTooLarge) => {
            Err(Problem::payload_too_large(path, BODY_LIMIT_BYTES).into_response())
        }
        Err(ReadBodyError::Io(error)) if error.kind() == std::io::ErrorKind::TimedOut => {
            Err(Problem::request_timeout(path).into_response())
        }
        Err(_) => {
            Err(Problem::invalid(path, "The body could not be read.", Vec::new()).into_response())
        }
    }
}

fn in_flight(path: &str) -> Begun {
    Begun::Answered(
        KeyInUse::Conflict(Problem::key_in_use(path).into(), "1".to_owned()).into_response(),
    )
}

fn full(path: &str) -> Begun {
    let mut response = Problem::keys_full(path).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    Begun::Answered(response)
}

fn unavailable(path: &str) -> Begun {
    let mut response = Problem::service_unavailable(path).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    Begun::Answered(response)
}

fn answered(problem: Problem) -> Begun {
    Begun::Answered(problem.into_response())
}

/// The kept answer, again, marked as a replay.
fn replayed(kept: &Kept) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK))
        .body(kept.body.clone());
    let headers = response.headers_mut();
    for (name, value) in [
        (CONTENT_TYPE, &kept.content_type),
        (ETAG, &kept.etag),
        (LOCATION, &kept.location),
    ] {
        if let Some(value) = value
            .as_deref()
            .and_then(|value| HeaderValue::from_str(value).ok())
        {
            headers.insert(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
