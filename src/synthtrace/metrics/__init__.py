"""Pure metrics: detection (ROC, calibration), clustering, masks. Arrays in, numbers out; no I/O."""
