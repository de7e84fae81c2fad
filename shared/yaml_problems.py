"""Problems found in a YAML document (a curriculum track, a risk instrument), each naming
where: file, line and field.

YAML is read with PyYAML's safe loader, first composed into nodes so that every field's
line is known; a validator then reports `curriculum/core.yaml:57: modules[2].lessons[0].
translations.zh-CN.notification: ...`. A document sent through an API has no file and no
lines: its problems name the field alone. Shared because the content service (curriculum)
and the scheduler (risk instruments) both read such files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml  # type: ignore[import-untyped]

from shared.errors import InvalidInput

Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """`("modules", 2, "lessons", 0, "key")` -> `modules[2].lessons[0].key`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Problem:
    file: str | None
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"


class DocumentInvalid(InvalidInput):
    """A document refused; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem], what: str = "content refused") -> None:
        self.problems = list(problems)
        count = len(self.problems)
        listed = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"{what}: {count} problem{'s' if count != 1 else ''}: {listed}")


@dataclass(frozen=True)
class Source:
    """Where content came from: a file and the line of each field path, or nothing."""

    file: str | None = None
    lines: Mapping[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.file, self.line(path), dotted(path), message)


def _record_lines(
    node: yaml.Node, path: Path, lines: dict[Path, int], source_problems: list[Problem], file: str
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen:
                source_problems.append(
                    Problem(file, line, dotted((*path, key)), "appears twice in the same mapping")
                )
            seen.add(key)
            lines.setdefault((*path, key), line)
            _record_lines(value_node, (*path, key), lines, source_problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, source_problems, file)


def load_yaml(text: str, file: str) -> tuple[Any, Source, list[Problem]]:
    """The file's data and lines, or the problems that make it unreadable."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Source(file), [Problem(file, None, "", "the file is empty")]
        lines: dict[Path, int] = {}
        problems: list[Problem] = []
        _record_lines(node, (), lines, problems, file)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"invalid YAML: {reason}" + (f" ({context})" if context else "")
        line = mark.line + 1 if mark is not None else None
        return None, Source(file), [Problem(file, line, "", message)]
    finally:
        loader.dispose()
    return data, Source(file, lines), problems


YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(paths: Iterable[FilePath]) -> list[FilePath]:
    """Files named, and the YAML files in folders named (sorted), each once."""
    found: list[FilePath] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


Loaded = tuple[str, Any, Source]  # a file's name, its data and its lines


def read_yaml_files(paths: Iterable[FilePath]) -> tuple[list[Loaded], list[Problem]]:
    """Each YAML file's name, data and lines, and the problems of those that cannot be read
    (a file or folder naming no YAML file is one)."""
    files = yaml_files(paths)
    problems: list[Problem] = []
    if not files:
        problems.append(Problem(None, None, "", "no YAML files found"))
    loaded: list[Loaded] = []
    for path in files:
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, None, "", f"cannot read: {exc}"))
            continue
        data, source, unreadable = load_yaml(text, name)
        problems.extend(unreadable)
        if data is not None and not unreadable:
            loaded.append((name, data, source))
    return loaded, problems
