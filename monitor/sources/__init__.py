"""Pull stage: each module fetches records from one kind of external system.

Check Point: ``checkpoint_api`` (Management API ``show-logs``, a pull source per log type),
``checkpoint_snapshots`` (gateway/rulebase inventory), ``syslog`` (Log Exporter receiver) with
``spool`` (disk spool while Elasticsearch is down), ``logfiles`` (exported files, gzip, stdin).
``git`` is the only module that runs the git CLI; ``forges`` speaks to GitHub, GitLab and
Argo CD over HTTP. Nothing here decides what a document looks like (that is ``normalize``).
"""
