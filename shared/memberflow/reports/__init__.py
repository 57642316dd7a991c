"""Programme KPIs (domain.md §4), computed from the member store."""
