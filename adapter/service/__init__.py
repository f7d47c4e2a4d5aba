"""``freightliner-policy serve``: the long-lived HTTP service (see interface.py)."""
