"""Shared fixtures for the provenance tests."""

from __future__ import annotations

import pytest

from .prov_helpers import Chain, make_chain


@pytest.fixture(scope="session")
def chain() -> Chain:
    pytest.importorskip("cryptography", reason="the cryptography package is needed to make test certificates")
    return make_chain()
