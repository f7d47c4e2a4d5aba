"""Policies: the YAML model, its loader, and the condition catalogue."""
