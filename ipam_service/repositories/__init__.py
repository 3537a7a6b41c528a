"""Data access. Only repositories query; only the request boundary commits."""
