"""Who may do what: clinics, bearer tokens with roles and clinic scope, and the audit log.

These tables live in one `access` schema that every service's API verifies tokens and
writes audit entries against (architecture.md allows clinics and tokens in shared tables
when all services verify tokens). No service keeps its own domain data here.
"""
