"""The feedback service.

Replies, ratings, needs with urgent escalation, and surveys.
"""
