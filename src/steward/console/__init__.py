"""The web console at /console: server-rendered pages over the control-plane services (see docs/console.md)."""
