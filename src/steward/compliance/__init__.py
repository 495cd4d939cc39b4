"""Compliance: compliance groups, encrypted content capture and its reader, retention (issue #5), and the
Compliance API's parts built beside them. Nothing here runs per request except ``content.KeyRing`` lookups."""
