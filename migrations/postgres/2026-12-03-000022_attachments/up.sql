-- Files on tickets (photos, receipts, screenshots, short videos, PDFs). A row is metadata
-- only; the bytes live where `storage` says: `database` (attachment_blobs, below),
-- `filesystem` (a file named by the SHA-256 in the attachment directory) or `s3` (the
-- object `storage_key` in the bucket). A deleted attachment keeps its row as a tombstone
-- (who, when, why); its bytes are gone.
CREATE TABLE attachments (
    id             BIGSERIAL PRIMARY KEY,
    shop_id        BIGINT NOT NULL REFERENCES shops (id),
    ticket_id      BIGINT NOT NULL REFERENCES tickets (id),
    note_id        BIGINT REFERENCES notes (id),
    uploader_id    BIGINT REFERENCES users (id),
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL CHECK (size >= 0),
    sha256         TEXT NOT NULL,
    storage        TEXT NOT NULL,
    storage_key    TEXT NOT NULL,
    width          INTEGER,
    height         INTEGER,
    has_thumbnail  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMP NOT NULL,
    deleted_at     TIMESTAMP,
    deleted_by     BIGINT REFERENCES users (id),
    delete_reason  TEXT
);
CREATE INDEX attachments_ticket_idx ON attachments (ticket_id, id);
-- Whether a content-addressed file is still referenced by a live row.
CREATE INDEX attachments_storage_key_idx ON attachments (storage, storage_key)
    WHERE deleted_at IS NULL;

-- The bytes of attachments kept in the database, and every attachment's thumbnail (a small
-- JPEG), apart from the rows so that listing never reads them.
CREATE TABLE attachment_blobs (
    attachment_id  BIGINT NOT NULL REFERENCES attachments (id),
    part           TEXT NOT NULL CHECK (part IN ('file', 'thumbnail')),
    bytes          BYTEA NOT NULL,
    PRIMARY KEY (attachment_id, part)
);
