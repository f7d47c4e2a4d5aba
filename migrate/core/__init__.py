"""The lowest layer, shared by translator and adapter.

Errors, exit codes, durations, clock, cron and retry settings. It imports
nothing else of freightliner-policy.
"""
