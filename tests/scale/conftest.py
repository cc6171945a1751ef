"""Fixtures of the scale-out tests: store URLs for both database back ends."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test, dropped afterwards (CI sets SYNTHTRACE_TEST_POSTGRES)."""
    url = os.environ.get("SYNTHTRACE_TEST_POSTGRES")
    if not url:
        pytest.skip("SYNTHTRACE_TEST_POSTGRES is not set (CI sets it; e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    pytest.importorskip("psycopg", reason="PostgreSQL tests need the 'postgres' extra (psycopg)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from synthtrace.service.store import normalize_url

    admin_url = normalize_url(url)
    name = f"synthtrace_scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_database")
