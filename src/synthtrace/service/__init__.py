"""Local service: REST API, web UI and a persistent case store (the "service" extra).

``create_app(ServiceSettings(...))`` builds the FastAPI app; ``synthtrace serve``
runs it under uvicorn. See docs/service.md.
"""

from synthtrace.service.settings import ServiceSettings, default_data_dir

__all__ = ["ServiceSettings", "create_app", "default_data_dir"]


def create_app(*args, **kwargs):
    """See :func:`synthtrace.service.app.create_app` (imported lazily: it needs fastapi)."""
    from synthtrace.service.app import create_app as _create  # optional extra 'service'

    return _create(*args, **kwargs)
