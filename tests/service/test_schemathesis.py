"""Property-based API tests generated from the served OpenAPI document (schemathesis).

Bounded: MAX_EXAMPLES per operation. Run with ``-s`` to see how many cases were
generated and how many failed per operation.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import auth, jpeg_bytes, make_app  # noqa: E402

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]

_TMP = Path(tempfile.mkdtemp(prefix="synthtrace-st-"))
(_TMP / "allowed").mkdir()
(_TMP / "allowed" / "a.jpg").write_bytes(jpeg_bytes())
APP = make_app(_TMP, allow_dirs=(_TMP / "allowed",), sync_limit=2)
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)

CASES: Counter[str] = Counter()
FAILURES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _summary():
    yield
    total, failed = sum(CASES.values()), sum(FAILURES.values())
    lines = [f"schemathesis: {total} cases generated, {failed} failed ({MAX_EXAMPLES} max examples per operation)"]
    lines += [f"  {op}: {n} cases, {FAILURES[op]} failed" for op, n in sorted(CASES.items())]
    print("\n" + "\n".join(lines), file=sys.stderr)
    APP.state.ctx.store.close()
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_to_its_schema(case):
    op = f"{case.method} {case.path}"
    CASES[op] += 1
    try:
        case.call_and_validate(headers=auth(), checks=CHECKS)
    except BaseException:  # schemathesis' FailureGroup is a BaseExceptionGroup
        FAILURES[op] += 1
        raise
