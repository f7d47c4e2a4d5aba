"""Bundles: compiled policies, the Rego library and generated tests, laid out for OPA."""
