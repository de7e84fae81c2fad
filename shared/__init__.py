"""The suite's own shared package: settings, database, bus, messages, logging, web plumbing."""
