"""The curriculum's problems are those of any YAML document (shared.yaml_problems): the
scheduler's risk instruments are validated the same way."""

from __future__ import annotations

from shared.yaml_problems import DocumentInvalid as ContentInvalid
from shared.yaml_problems import Path, Problem, Source, dotted, load_yaml

__all__ = ["ContentInvalid", "Path", "Problem", "Source", "dotted", "load_yaml"]
