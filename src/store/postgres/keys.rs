//! Idempotency keys on PostgreSQL: a claim is a row committed before its request runs, with an
//! owner and an end, so that every server sees it and a claim whose server stopped frees itself;
//! the completion updates that row in the write's own transaction.

use deadpool_postgres::Object;
use tokio_postgres::{Transaction, error::Error};

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
            "SELECT fingerprint, owner IS NULL, until > now(), status, content_type, etag, \
                 location, body \
             FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE",
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
            "INSERT INTO idempotency_keys (scope, key, fingerprint, owner, until) \
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) \
             ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
                 owner = EXCLUDED.owner, until = EXCLUDED.until, status = NULL, \
                 content_type = NULL, etag = NULL, location = NULL, body = NULL \
             WHERE idempotency_keys.until <= now()",
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
/// fingerprint unknown until `fingerprint`).
pub(super) async fn claim_early(
    client: &mut Object,
    scope: &[u8],
    key: &str,
    limits: KeyLimits,
) -> Result<Early, Error> {
    let transaction = client.transaction().await?;
    let found = transaction
        .query_opt(
            "SELECT owner IS NULL, until > now() FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 FOR UPDATE",
            &[&scope, &key],
        )
        .await?;
    if let Some(row) = &found
        && row.get::<_, bool>(1)
    {
        return Ok(if row.get::<_, bool>(0) {
            Early::Done
        } else {
            Early::InFlight
        });
    }
    if found.is_none() {
        // A few expired keys go with each new one, so that the table holds about the live
        // keys, whatever their number.
        transaction
            .execute(
                "DELETE FROM idempotency_keys WHERE ctid IN \
                 (SELECT ctid FROM idempotency_keys WHERE until <= now() LIMIT 16)",
                &[],
            )
            .await?;
        if !room(&transaction, limits).await? {
            return Ok(Early::Full);
        }
    }
    let mut owner = [0u8; 8];
    let _ = getrandom::fill(&mut owner);
    let owner = i64::from_ne_bytes(owner);
    let claimed = transaction
        .execute(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, owner, until) \
             VALUES ($1, $2, NULL, $3, now() + make_interval(secs => $4)) \
             ON CONFLICT (scope, key) DO UPDATE SET fingerprint = NULL, \
                 owner = EXCLUDED.owner, until = EXCLUDED.until, status = NULL, \
                 content_type = NULL, etag = NULL, location = NULL, body = NULL \
             WHERE idempotency_keys.until <= now()",
            &[&scope, &key, &owner, &limits.lease.as_secs_f64()],
        )
        .await?;
    transaction.commit().await?;
    if claimed == 0 {
        return Ok(Early::InFlight);
    }
    Ok(Early::Claimed(Lease {
        request: KeyRequest {
            scope: scope.to_vec(),
            key: key.to_owned(),
            fingerprint: [0; 32],
        },
        owner: owner as u64,
    }))
}

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
            "UPDATE idempotency_keys SET fingerprint = coalesce($4, fingerprint), \
                 until = now() + make_interval(secs => $5) \
             WHERE scope = $1 AND key = $2 AND owner = $3",
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

/// Whether another key may be claimed: fewer live keys than the limit, once expired ones are
/// gone.
async fn room(transaction: &Transaction<'_>, limits: KeyLimits) -> Result<bool, Error> {
    let max = i64::try_from(limits.max_keys).unwrap_or(i64::MAX);
    let live = "SELECT count(*) FROM idempotency_keys WHERE until > now()";
    if transaction.query_one(live, &[]).await?.get::<_, i64>(0) < max {
        return Ok(true);
    }
    transaction
        .execute("DELETE FROM idempotency_keys WHERE until <= now()", &[])
        .await?;
    Ok(transaction.query_one(live, &[]).await?.get::<_, i64>(0) < max)
}

/// Whether `lease` still holds its key, its row locked until `transaction` ends.
pub(super) async fn holds(transaction: &Transaction<'_>, lease: &Lease) -> Result<bool, Error> {
    Ok(transaction
        .query_opt(
            "SELECT 1 FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 AND owner = $3 AND until > now() FOR UPDATE",
            &[
                &lease.request.scope,
                &lease.request.key,
                &(lease.owner as i64),
            ],
        )
        .await?
        .is_some())
}

/// Completes `lease`'s key with `kept`, kept for `ttl`, or (`None`) gives it up: in
/// `transaction`, the write's own when it wrote.
pub(super) async fn settle(
    transaction: &Transaction<'_>,
    lease: &Lease,
    kept: Option<Kept>,
    ttl: std::time::Duration,
) -> Result<(), Error> {
    let (scope, key, owner) = (&lease.request.scope, &lease.request.key, lease.owner as i64);
    match kept {
        Some(kept) => {
            transaction
                .execute(
                    "UPDATE idempotency_keys SET owner = NULL, status = $4, content_type = $5, \
                         etag = $6, location = $7, body = $8, \
                         until = now() + make_interval(secs => $9) \
                     WHERE scope = $1 AND key = $2 AND owner = $3",
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
                .await?;
        }
        None => {
            transaction
                .execute(
                    "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND owner = $3",
                    &[scope, key, &owner],
                )
                .await?;
        }
    }
    Ok(())
}
