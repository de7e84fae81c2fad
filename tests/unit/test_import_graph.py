"""Who may import whom (docs/architecture.md), checked on the source with `ast`.

- `shared/` (the library) imports no service, no fake and not the composition root;
- a service imports `shared/` and itself, never another service, a fake or `mmt`;
- the fakes (`deploy/`) import what a provider would know, never a service or `mmt`;
- nothing but the tests imports the composition root, `mmt/`.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("shared", "services", "deploy", "mmt")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import, relative ones resolved, and of every
    `importlib.import_module("...")` whose name is written out (an f-string's literal head)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            elif node.module:
                yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
        ):
            first = node.args[0]
            if isinstance(first, ast.JoinedStr) and first.values:
                first = first.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _forbidden(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None when it may."""
    top, *rest = importer.split(".")
    target = imported.split(".")
    if target[0] not in CHECKED:
        return None
    if top == "mmt":
        return None  # the composition root may import everything
    if target[0] == "mmt":
        return "only the tests import the composition root (mmt)"
    if top == "shared" and target[0] in ("services", "deploy"):
        return "the library (shared) knows no service and no fake"
    if top == "deploy" and target[0] == "services":
        return "a fake provider knows no service"
    if top == "services" and target[0] == "deploy":
        return "a service knows no fake provider"
    other = target[1] if target[0] == "services" and len(target) > 1 else None
    if top == "services" and rest and other is not None and other != rest[0]:
        return f"the {rest[0]} service imports another service ({other})"
    return None


def violations(root: Path) -> list[str]:
    found = []
    for folder in CHECKED:
        for path in sorted((root / folder).rglob("*.py")):
            importer = _module_name(path, root)
            for line, imported in _imports(path, root):
                reason = _forbidden(importer, imported)
                if reason:
                    where = path.relative_to(root)
                    found.append(f"{where}:{line} imports {imported}: {reason}")
    return found


def test_the_tree_keeps_the_import_rules() -> None:
    assert violations(ROOT) == []


def _module_level_imports(path: Path, root: Path, known: set[str]) -> set[str]:
    """Our modules imported when this one is (at module level, `if TYPE_CHECKING:` included:
    a circle there is still a circle for a reader); imports inside functions are deferred
    on purpose and left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - (node.level - 1)]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.If | ast.Try):
            pending.extend(node.body)
    return {module for module in found if module in known and module != name}


def test_no_module_imports_itself_in_a_circle() -> None:
    paths = {
        _module_name(path, ROOT): path
        for folder in CHECKED
        for path in (ROOT / folder).rglob("*.py")
    }
    graph = {name: _module_level_imports(path, ROOT, set(paths)) for name, path in paths.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"an import circle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "shared/planted.py",
            "import services.scheduler.models\n",
            "shared/planted.py:1 imports services.scheduler.models: the library",
        ),
        (
            "shared/bus/planted.py",
            "from ...services.content import api\n",
            "shared/bus/planted.py:1 imports services.content: the library",
        ),
        (
            "shared/planted.py",
            "import importlib\nimportlib.import_module(f'services.{name}.definition')\n",
            "shared/planted.py:2 imports services.: the library",
        ),
        (
            "services/feedback/planted.py",
            "from services.scheduler.models import Patient\n",
            "imports services.scheduler.models: the feedback service imports another service",
        ),
        (
            "services/content/planted.py",
            "from mmt.registry import load_service\n",
            "only the tests import the composition root",
        ),
        (
            "deploy/fakes/planted.py",
            "from services.feedback import grammar\n",
            "a fake provider knows no service",
        ),
    ],
)
def test_a_planted_import_is_named(tmp_path: Path, path: str, source: str, expected: str) -> None:
    for folder in CHECKED:
        (tmp_path / folder).mkdir()
    planted = tmp_path / path
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(source)
    (tmp_path / "services" / "scheduler").mkdir(exist_ok=True)
    (tmp_path / "services" / "scheduler" / "fine.py").write_text(
        "from services.scheduler import x\n"
    )
    (tmp_path / "mmt" / "fine.py").write_text("import services.feedback.app\n")

    found = violations(tmp_path)

    assert len(found) == 1, found
    assert expected in found[0]
