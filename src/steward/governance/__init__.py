"""Governance: the pricing catalog, usage metering, exact cost, and the admission token estimate.

Pure code with no I/O beyond reading the packaged ``pricing_catalog.json``; the data plane's stages call it.
"""
