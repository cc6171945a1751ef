"""Backbone features for many images, with a content-addressed on-disk cache."""

from synthtrace.features.cache import CacheKey, FeatureCache, FeatureNamespace
from synthtrace.features.extract import extract_features

__all__ = ["CacheKey", "FeatureCache", "FeatureNamespace", "extract_features"]
