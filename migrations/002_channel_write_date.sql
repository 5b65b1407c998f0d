-- What the ORM writes on a record besides its own columns (seed 003): write_date on every
-- write, and a stored computed field recomputed when the relation it depends on changes.
-- --membership-write hot-row writes both on a membership change; membership-only neither.
ALTER TABLE channels
  ADD COLUMN write_date   timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN member_count integer;
