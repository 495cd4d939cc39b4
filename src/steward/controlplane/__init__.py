"""The control plane: services that change organizations, workspaces and keys (admin API, CLI)."""
