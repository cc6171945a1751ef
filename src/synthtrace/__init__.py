"""synthtrace: evidence that an image was made or edited by a generative model."""

import sys as _sys
import types as _types

__version__ = "0.1.0"


def _scan(paths, detector=None, *, engine="local", **kwargs):
    """Scan images in memory, or into a resumable Parquet output on one machine or Ray.

    ``synthtrace.scan(paths)`` returns one ScanResult per file;
    ``synthtrace.scan(paths, out="results/", engine="ray")`` writes partitioned Parquet
    and returns a RunSummary. See ``synthtrace.scale.api.scan`` for every keyword.
    """
    from synthtrace.scale.api import scan as scan_api  # imported here: `import synthtrace` stays light

    return scan_api(paths, detector, engine=engine, **kwargs)


scan = _scan


class _ScanModule(_types.ModuleType):
    """The ``synthtrace.scan`` submodule, callable as the function above.

    Importing a submodule sets it as an attribute of the package, which would hide
    ``synthtrace.scan()`` behind the module of the same name; this keeps both working
    (``synthtrace.scan(...)`` and ``synthtrace.scan.scan_file``).
    """

    def __call__(self, *args, **kwargs):
        return _scan(*args, **kwargs)


class _Package(_types.ModuleType):
    def __setattr__(self, name, value):
        if name == "scan" and isinstance(value, _types.ModuleType) and not isinstance(value, _ScanModule):
            value.__class__ = _ScanModule
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
