"""Tracker connectors: each turns one tracker's API into the Connector protocol of base.py."""
