"""The data plane: the hot path serving /v1/messages and friends. Never imports the control plane."""
