"""HTTP entry: FastAPI app, endpoints, problem+json rendering."""
