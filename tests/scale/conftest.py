"""Fixtures of the scale-out tests: pg_database and db_url come from tests/conftest.py."""
