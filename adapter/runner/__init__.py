"""Run time orchestration: image reference → metadata → decision → actions."""
