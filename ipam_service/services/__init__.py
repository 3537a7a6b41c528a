"""Orchestration: validate, call repositories, translate database conflicts."""
