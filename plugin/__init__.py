"""Pilot Gate: inserts production-readiness gates into AI pilot epics in Jira and GitHub."""

__version__ = "0.1.0"
