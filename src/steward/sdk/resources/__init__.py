"""The Admin API's resources (``admin.invitations``, ``admin.users``, ...), each described once for both clients."""
