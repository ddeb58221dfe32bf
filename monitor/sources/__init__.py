"""Pull stage: each module fetches records from one kind of external system.

``git`` is the only module that runs the git CLI; ``forges`` speaks to GitHub, GitLab and
Argo CD over HTTP. Nothing here decides what a document looks like (that is ``normalize``).
"""
