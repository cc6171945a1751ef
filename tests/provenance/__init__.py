"""Provenance reader tests (a package so helpers import relatively under importlib mode)."""
