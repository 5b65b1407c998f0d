-- The model of Odoo's bus, chat and presence tables (see ../shared/reference/odoo-model.md).

CREATE TABLE users (
  id            serial PRIMARY KEY,
  login         text NOT NULL UNIQUE,
  name          text NOT NULL,
  password_hash text NOT NULL
);

-- Random bearer tokens; a session never changes once created, so processes may cache it.
CREATE TABLE sessions (
  token      text PRIMARY KEY,
  user_id    integer NOT NULL REFERENCES users ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channels (
  id         serial PRIMARY KEY,
  name       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channel_members (
  channel_id integer NOT NULL REFERENCES channels ON DELETE CASCADE,
  user_id    integer NOT NULL REFERENCES users ON DELETE CASCADE,
  joined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user ON channel_members (user_id);

CREATE TABLE messages (
  id         serial PRIMARY KEY,
  channel_id integer NOT NULL REFERENCES channels ON DELETE CASCADE,
  author_id  integer NOT NULL REFERENCES users ON DELETE CASCADE,
  body       text NOT NULL,
  client_id  text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_channel ON messages (channel_id, id);

-- Odoo's bus_bus: the serial id is the client's cursor ("last").
CREATE TABLE bus_notifications (
  id         bigserial PRIMARY KEY,
  channel    text NOT NULL,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bus_notifications_channel ON bus_notifications (channel, id);
CREATE INDEX bus_notifications_created ON bus_notifications (created_at);

-- Odoo's bus_presence: ONE row per user, written by every tab's poll - the hot row of seed 000.
CREATE TABLE presence (
  user_id       integer PRIMARY KEY REFERENCES users ON DELETE CASCADE,
  last_poll     timestamptz,
  last_presence timestamptz,
  status        text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline'))
);

-- Odoo's base_cache_signaling: bumped after a commit that changed cached data (seed 004).
CREATE SEQUENCE cache_signaling;
