-- Idempotency keys (README, "Retries"): each claimed by the request that runs it, then completed
-- with its answer in the same transaction as its write (store/postgres/keys.rs).

CREATE TABLE idempotency_keys (
    -- The client's scope (a digest of its write token; empty without tokens) and its key.
    scope bytea NOT NULL,
    key text COLLATE "C" NOT NULL,
    -- A digest of the request: method, path, body; NULL while its body is being read.
    fingerprint bytea,
    -- The request running it, while it runs; NULL once completed.
    owner bigint,
    -- While running, the end of the claim; once completed, the end of the answer's life.
    until timestamptz NOT NULL,
    -- The kept answer, once completed.
    status smallint,
    content_type text,
    etag text,
    location text,
    body bytea,
    PRIMARY KEY (scope, key)
);

-- Expired keys, found without reading the live ones.
CREATE INDEX idempotency_keys_by_end ON idempotency_keys (until);
