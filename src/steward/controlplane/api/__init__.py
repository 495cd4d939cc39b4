"""The Admin API over HTTP (FastAPI: not the hot path): Anthropic's paths and the seed's, one service layer."""
