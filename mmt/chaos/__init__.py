"""Chaos runs: a burst through real processes while faults land (`mmt chaos`)."""
