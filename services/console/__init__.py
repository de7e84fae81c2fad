"""The coordinator console: server-rendered pages over the services' HTTP APIs."""
