"""The controller's HTTP API (FastAPI): the only layer that commits."""
