-- The languages, in insertion order, and the state that every server of the store shares.
-- The seed languages and the state row are inserted with this migration (store/postgres/migrate.rs).

CREATE TABLE languages (
    -- Insertion order: the list order and the page cursor. A re-created language goes last.
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Compared exactly, byte for byte.
    name text COLLATE "C" NOT NULL UNIQUE,
    publication_year integer NOT NULL,
    -- UTF-8 text; bytea, because text cannot hold U+0000.
    contribution bytea NOT NULL
);

-- Filtered pages: the languages of a range of years, in insertion order.
CREATE INDEX languages_by_year ON languages (publication_year, position);

CREATE TABLE store_state (
    one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    -- How many languages there are, for --max-languages; creates and deletes lock this row.
    language_count bigint NOT NULL,
    -- The key that page tokens are signed with, the same for every server.
    page_token_key bytea NOT NULL
);
