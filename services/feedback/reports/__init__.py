"""What coordinators and researchers read in bulk: counts by lesson, module, arm, survey
and need (`summaries.py`), identified and de-identified CSV exports (`exports.py`), and
their routes (`api.py`)."""
