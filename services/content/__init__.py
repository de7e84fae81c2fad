"""The content service.

Curriculum and cadence: tracks, modules, lessons, versions and lesson pages.
"""
