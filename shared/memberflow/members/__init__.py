"""Members: identity resolution, profile upserts, the JSON view the API returns."""
