"""The README's walk-through, run as written against `mmt up --sandbox`.

Its ```sh blocks (between the walkthrough markers) run in order in one shell, as a newcomer
types them in a second terminal: variables carry over, `set -eu` stops at the first failing
command. The ```text block after a command is what it answers, `...` standing for what
differs: each part must appear, in order. The folder the shell runs in has a
`.venv/bin/mmt` of its own (this interpreter's `mmt`), so the commands are the README's
letter for letter while `var/` is a temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Backends, drop_schemas
from tests.e2e.test_suite_up import _running_up, _suite_env, _wait_for

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- walkthrough:begin -->", "<!-- walkthrough:end -->"
BLOCK = re.compile(r"```(sh|text)\n(.*?)```", re.S)
DONE = "@@walkthrough-step-done"
# A reply before the feedback service has heard of the enrolment (the bus takes a moment)
# is answered "we could not match your number" and stores nothing: that step waits for it.
NOT_YET = "could not match your number"


@dataclass
class Step:
    command: str
    expected: str | None  # the ```text block that follows, if any


def walkthrough(text: str, begin: str = BEGIN, end: str = END) -> list[Step]:
    assert text.count(begin) == 1, "the walk-through's begin marker"
    assert text.count(end) == 1, "the walk-through's end marker"
    section = text.split(begin, 1)[1].split(end, 1)[0]
    steps: list[Step] = []
    for kind, body in BLOCK.findall(section):
        if kind == "sh":
            steps.append(Step(body, None))
        else:
            assert steps, "an answer follows its command"
            assert steps[-1].expected is None, "one answer per command"
            steps[-1].expected = body.strip()
    return steps


def answers(expected: str, output: str) -> bool:
    """Every `...`-separated part of `expected`, in order, in `output`."""
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.search(pattern, output, re.S) is not None


class Shell:
    """One bash, fed a step at a time, its output read up to the step's end."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._send("set -eu\n")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def run(self, command: str, timeout_s: float = 60) -> str:
        self._send(f"{command}\necho; echo {DONE}\n")
        output: list[str] = []
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no end within {timeout_s}s:\n{command}\n{''.join(output)}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"the shell stopped (a command failed) at:\n{command}\n{''.join(output)}"
                )
            if line.strip() == DONE:
                return "".join(output)
            output.append(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()  # the shell ends at the end of its input
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        self.process.stdout.close()


def test_the_walkthrough_parses_into_commands_and_their_answers() -> None:
    steps = walkthrough(README.read_text())
    commands = "\n".join(step.command for step in steps)
    for needed in ("token create", "/clinics", "/patients", "/doses", "/timeline", "/feedback"):
        assert needed in commands
    assert "sandbox reply --phone +8613800138000 1\n" in commands
    assert "sandbox reply --phone +8613800138000 STOP\n" in commands
    assert sum(step.expected is not None for step in steps) == len(steps) - 1
    assert answers('{"id":1,...,"kind":"rating"}', '{"id":1,"a":2,"kind":"rating"}')
    assert not answers('{"id":1,...,"kind":"rating"}', '{"id":2,"kind":"rating"}')


def test_the_readme_walkthrough_runs_as_written(
    tmp_path: Path, backends: Backends, isolation: str
) -> None:
    run_walkthrough(walkthrough(README.read_text()), {}, tmp_path, backends, isolation)


def run_walkthrough(
    steps: list[Step],
    settings: dict[str, str],
    tmp_path: Path,
    backends: Backends,
    isolation: str,
    then: Callable[[dict[str, str]], None] = lambda _fakes: None,
) -> None:
    """`steps` in one shell beside `mmt up --sandbox` run with `settings` added to its
    environment (CHANNEL_SMS=aliyun, ...), each step's answer checked; then `then(where the
    fakes are)` while the sandbox still runs."""
    for tool in ("bash", "curl"):
        assert shutil.which(tool), f"the walk-through needs {tool} on the PATH"
    _ports, env = _suite_env(tmp_path)  # SCHEDULER_PORT, ...: the shell has them too
    env.update(settings)
    env["DATABASE_URL"] = backends.database_url
    env["DATABASE_SCHEMA_PREFIX"] = isolation
    # REDIS_URL unset: `mmt up` brings its own, as on a newcomer's laptop.
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "mmt").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mmt "$@"\n')
    (bin_dir / "mmt").chmod(0o755)
    try:
        with _running_up(env, tmp_path, "--sandbox") as (_up, lines):
            _wait_for(lambda: any(line.startswith("ready") for line in lines), 240, "the suite")
            assert (tmp_path / "sandbox.json").exists()
            shell = Shell(env, tmp_path)
            try:
                for step in steps:
                    output = shell.run(step.command)
                    if "sandbox reply" in step.command:
                        deadline = time.monotonic() + 30
                        while NOT_YET in output and time.monotonic() < deadline:
                            time.sleep(0.2)  # the enrolment is on its way to feedback
                            output = shell.run(step.command)
                    if step.expected is not None:
                        assert answers(step.expected, output), (
                            f"{step.command}\nanswered\n{output}\nnot\n{step.expected}"
                        )
                then(json.loads((tmp_path / "sandbox.json").read_text()))
            finally:
                shell.close()
    finally:
        asyncio.run(drop_schemas(backends.database_url, isolation))
