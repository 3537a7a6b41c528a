"""Repositories: the only code that queries the controller's tables."""
