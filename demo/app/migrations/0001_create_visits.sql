-- 0001: a harmless table for the demo
CREATE TABLE IF NOT EXISTS visits (
    id          bigserial PRIMARY KEY,
    path        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS visits_created_at_idx ON visits (created_at);
