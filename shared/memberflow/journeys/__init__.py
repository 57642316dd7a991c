"""The journey engine: cohorts, steps over shards, per-member rules, channels."""
