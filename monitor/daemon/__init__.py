"""``monitor run``: the long-running service.

``app`` is the composition root (builds everything from ``Settings``), ``jobs`` the APScheduler
job table, ``lifecycle`` signals and bounded shutdown, ``ha`` the active/standby lease,
``adapters`` the glue to the sources, rule engine, compliance and reports packages.
"""
