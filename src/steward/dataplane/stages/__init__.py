"""Pipeline stages, in order: authenticate, validate, model access, meter, record.

Each stage has ``on_request`` (may raise a StewardError to refuse) and ``on_complete`` (always runs, in the
same order, exactly once, before the response's last byte leaves; never raises).
"""
