"""synthtrace: evidence that an image was made or edited by a generative model.

``import synthtrace as st`` stays light: the public API (``synthtrace.api``) is
imported on first use of one of its names (``st.scan``, ``st.Detector``, ...).
"""

__version__ = "0.1.0"

_API = ("Detector", "DiscoverySettings", "Localization", "LocalizeSettings", "Precision", "RunOptions", "ScanOptions",
        "ScanResult", "attribute", "discover", "evaluate", "fit_attribution", "localize", "scan", "train")


def __getattr__(name: str):
    if name in _API:
        # torch, transformers and scikit-learn load here, on first use, not on `import synthtrace`.
        from synthtrace import api

        return getattr(api, name)
    raise AttributeError(f"module 'synthtrace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = ["__version__", *_API]
