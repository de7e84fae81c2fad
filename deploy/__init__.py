"""Deployment files and runnable development fakes (not part of the installed wheel)."""
