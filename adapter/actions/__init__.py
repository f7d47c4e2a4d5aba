"""Actions executed for a decision."""
