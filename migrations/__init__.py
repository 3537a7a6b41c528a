"""Alembic migration history shared by the IPAM service and the fabric controller."""
