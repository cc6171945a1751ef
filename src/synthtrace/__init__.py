"""synthtrace: evidence that an image was made or edited by a generative model."""

__version__ = "0.1.0"
