"""Shared state backends: the interface, and PostgreSQL (SQLite stays in adapter.service.state)."""
