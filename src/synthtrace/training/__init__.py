"""Training workflows: detectors, forensic views, learned fingerprints, attribution heads, zoo conversion."""
