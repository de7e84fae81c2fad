"""The content service's logic: validation, the curriculum store, versions, import and export,
previews and lesson pages. HTTP handlers and CLI commands call these and nothing else."""
