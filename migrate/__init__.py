"""Build time: YAML policies and legacy replication rules to OPA bundles."""
