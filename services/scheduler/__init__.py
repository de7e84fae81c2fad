"""The scheduler service.

Patients, schedules, the reminder planner and dispatch over pluggable channels.
"""
