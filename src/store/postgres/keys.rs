//! Idempotency keys on PostgreSQL: a claim is a row committed before its request runs, with an
//! owner and an end, so that every server sees it and a claim whose server stopped frees itself;
//! the completion updates that row in the write's own transaction.

use deadpool_postgres::{GenericClient, Object, Transaction};
use tokio_postgres::error::Error;

use crate::store::keys::{Claim, Early, Kept, KeyLimits, KeyRequest, Lease};

/// Claims `request`'s key.
pub(super) async fn claim(
    client: &mut Object,
    request: KeyRequest,
    limits: KeyLimits,
) -> Result<Claim, Error> {
    let transaction = client.transaction().await?;
    let found = transaction
        .query_opt(
            &transaction
                .prepare_cached(
                    "SELECT fingerprint, owner IS NULL, until > now(), status, content_type, etag, \
                 location, body \
             FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE",
                )
                .await?,
            &[&request.scope, &request.key],
        )
        .await?;
    if let Some(row) = &found
        && row.get::<_, bool>(2)
    {
        let completed: bool = row.get(1);
        // A running request's fingerprint is unknown until its body is read: in flight.
        let same = match row.get::<_, Option<Vec<u8>>>(0) {
            Some(fingerprint) => fingerprint == request.fingerprint,
            None => !completed,
        };
        return Ok(match (same, completed) {
            (false, _) => Claim::OtherRequest,
            (true, false) => Claim::InFlight,
            (true, true) => Claim::Replay(std::sync::Arc::new(Kept {
                status: u16::try_from(row.get::<_, Option<i16>>(3).unwrap_or(200)).unwrap_or(200),
                content_type: row.get(4),
                etag: row.get(5),
                location: row.get(6),
                body: row.get::<_, Option<Vec<u8>>>(7).unwrap_or_default(),
            })),
        });
    }
    if found.is_none() && !room(&transaction, limits).await? {
        return Ok(Claim::Full);
    }
    let mut owner = [0u8; 8];
    let _ = getrandom::fill(&mut owner);
    let owner = i64::from_ne_bytes(owner);
    let lease_secs = limits.lease.as_secs_f64();
    // A new key, or an expired one used again: either way, this request's claim.
    let claimed = transaction
        .execute(
            &transaction
                .prepare_cached(
                    "INSERT INTO idempotency_keys (scope, key, fingerprint, owner, until) \
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) \
             ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
                 owner = EXCLUDED.owner, until = EXCLUDED.until, status = NULL, \
                 content_type = NULL, etag = NULL, location = NULL, body = NULL \
             WHERE idempotency_keys.until <= now()",
                )
                .await?,
            &[
                &request.scope,
                &request.key,
                &request.fingerprint.as_slice(),
                &owner,
                &lease_secs,
            ],
        )
        .await?;
    transaction.commit().await?;
    if claimed == 0 {
        // Another server claimed it between our look and our insert.
        return Ok(Claim::InFlight);
    }
    Ok(Claim::Fresh(Lease {
        request,
        owner: owner as u64,
    }))
}

/// Looks at `scope`'s `key` before its request's body is read, and claims it if it is new (its
/// fingerprint unknown until `renew`): one statement, which also deletes a few expired keys (so
/// that the table holds about the live keys) and, when `count_live` asks, counts the live keys
/// against the bound (`Room`). Returns what it found and the live keys it counted.
pub(super) async fn claim_early(
    client: &mut Object,
    scope: &[u8],
    key: &str,
    limits: KeyLimits,
    count_live: bool,
) -> Result<(Early, Option<u64>), Error> {
    let mut owner = [0u8; 8];
    let _ = getrandom::fill(&mut owner);
    let owner = i64::from_ne_bytes(owner);
    let max = i64::try_from(limits.max_keys).unwrap_or(i64::MAX);
    let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&scope, &key, &owner, &limits.lease.as_secs_f64(), &max];
    let row = if count_live {
        // Counted claims take turns, across servers: near the bound each sees the others' keys.
        let transaction = client.transaction().await?;
        transaction
            .execute(&transaction.prepare_cached(COUNT_LOCK).await?, &[])
            .await?;
        let row = transaction
            .query_one(
                &transaction.prepare_cached(CLAIM_EARLY_COUNTED).await?,
                &parameters,
            )
            .await?;
        transaction.commit().await?;
        row
    } else {
        client
            .query_one(&client.prepare_cached(CLAIM_EARLY).await?, &parameters)
            .await?
    };
    let (claimed, counted, done): (bool, i64, Option<bool>) = (row.get(0), row.get(1), row.get(2));
    let full = count_live && counted >= max;
    let live = count_live.then(|| u64::try_from(counted).unwrap_or(0));
    let early = match (claimed, done) {
        (true, _) => Early::Claimed(Lease {
            request: KeyRequest {
                scope: scope.to_vec(),
                key: key.to_owned(),
                fingerprint: [0; 32],
            },
            owner: owner as u64,
        }),
        (false, Some(true)) => Early::Done,
        (false, Some(false)) => Early::InFlight,
        // No live row that this statement could see, and none claimed: no room, or another
        // server's claim made meanwhile.
        (false, None) if full => Early::Full,
        (false, None) => Early::InFlight,
    };
    Ok((early, live))
}

/// What both forms of the early claim share, after their count of live keys (`live`): the key
/// inserted, or an expired one taken over, while the live keys are fewer than the bound; then
/// (`purged` reads `claimed`, so that it runs after it, and two claims never wait on each other's
/// rows) a few expired rows deleted, never this key's, and skipping rows another claim holds; and
/// what was there before.
macro_rules! claim_early_body {
    () => {
        "claimed AS ( \
             INSERT INTO idempotency_keys (scope, key, fingerprint, owner, until) \
             SELECT $1, $2, NULL, $3, now() + make_interval(secs => $4) \
             WHERE (SELECT keys FROM live) < $5 \
             ON CONFLICT (scope, key) DO UPDATE SET fingerprint = NULL, \
                 owner = EXCLUDED.owner, until = EXCLUDED.until, status = NULL, \
                 content_type = NULL, etag = NULL, location = NULL, body = NULL \
             WHERE idempotency_keys.until <= now() \
             RETURNING 1), \
         purged AS (DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY( \
             SELECT ctid FROM idempotency_keys \
             WHERE until <= now() AND NOT (scope = $1 AND key = $2) \
                 AND (SELECT count(*) FROM claimed) >= 0 \
             LIMIT 16 FOR UPDATE SKIP LOCKED))) \
         SELECT EXISTS (SELECT 1 FROM claimed), (SELECT keys FROM live), \
             (SELECT owner IS NULL FROM idempotency_keys \
              WHERE scope = $1 AND key = $2 AND until > now())"
    };
}

/// The advisory lock that claims counting the live keys hold for their transaction (another than
/// the migrations' own).
const COUNT_LOCK: &str = "SELECT pg_advisory_xact_lock(8030366351420405259)";

/// The early claim (`claim_early`), without the count of live keys.
const CLAIM_EARLY: &str = concat!(
    "WITH live AS (SELECT -1::bigint AS keys), ",
    claim_early_body!()
);

/// The early claim, counting the live keys: a new key only while they are fewer than the bound.
const CLAIM_EARLY_COUNTED: &str = concat!(
    "WITH live AS (SELECT count(*) AS keys FROM idempotency_keys WHERE until > now()), ",
    claim_early_body!()
);

/// Renews `lease`'s claim for `limits.lease` from now; with `read`, its request's body has been
/// read, and its fingerprint is set.
pub(super) async fn renew(
    client: &mut Object,
    lease: &Lease,
    read: bool,
    limits: KeyLimits,
) -> Result<(), Error> {
    let fingerprint = read.then_some(lease.request.fingerprint.as_slice());
    client
        .execute(
            &client
                .prepare_cached(
                    "UPDATE idempotency_keys SET fingerprint = coalesce($4, fingerprint), \
                 until = now() + make_interval(secs => $5) \
             WHERE scope = $1 AND key = $2 AND owner = $3",
                )
                .await?,
            &[
                &lease.request.scope,
                &lease.request.key,
                &(lease.owner as i64),
                &fingerprint,
                &limits.lease.as_secs_f64(),
            ],
        )
        .await?;
    Ok(())
}

/// Whether another key may be claimed: fewer live keys than the limit.
async fn room(transaction: &Transaction<'_>, limits: KeyLimits) -> Result<bool, Error> {
    let max = i64::try_from(limits.max_keys).unwrap_or(i64::MAX);
    let live = transaction
        .prepare_cached("SELECT count(*) FROM idempotency_keys WHERE until > now()")
        .await?;
    Ok(transaction.query_one(&live, &[]).await?.get::<_, i64>(0) < max)
}

/// Completes `lease`'s key with `kept`, kept for `ttl`, or (`None`) gives it up: through
/// `client`, in the write's own transaction when it wrote. Whether the lease still held the key
/// (its request's claim was not taken over): when not, nothing changed.
pub(super) async fn settle(
    client: &impl GenericClient,
    lease: &Lease,
    kept: Option<Kept>,
    ttl: std::time::Duration,
) -> Result<bool, Error> {
    let (scope, key, owner) = (&lease.request.scope, &lease.request.key, lease.owner as i64);
    let settled = match kept {
        Some(kept) => client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE idempotency_keys SET owner = NULL, status = $4, content_type = $5, \
                         etag = $6, location = $7, body = $8, \
                         until = clock_timestamp() + make_interval(secs => $9) \
                     WHERE scope = $1 AND key = $2 AND owner = $3",
                    )
                    .await?,
                &[
                    scope,
                    key,
                    &owner,
                    &i16::try_from(kept.status).unwrap_or(i16::MAX),
                    &kept.content_type,
                    &kept.etag,
                    &kept.location,
                    &kept.body,
                    &ttl.as_secs_f64(),
                ],
            )
            .await?,
        None => client
            .execute(
                &client
                    .prepare_cached(
                        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND owner = $3",
                    )
                    .await?,
                &[scope, key, &owner],
            )
            .await?,
    };
    Ok(settled == 1)
}
