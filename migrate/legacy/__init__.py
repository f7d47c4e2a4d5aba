"""Legacy Freightliner replication rules: reading, converting and proving the migration equal."""
