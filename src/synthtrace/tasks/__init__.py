"""The use cases: scan, attribute, discover, localize, onboard, and the demo that strings them together."""
