"""Static checks of docker-compose.yml and deploy/Dockerfile.

No Docker engine runs on our machines or in CI, so the compose file is validated against
the Compose Specification's JSON Schema (tests/data/compose-spec.json) and then checked
for the properties the suite relies on: health checks, start-up ordering, persistence,
environment and published ports.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.readme_settings import readme_settings

REPO_ROOT = Path(__file__).parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SCHEMA_FILE = REPO_ROOT / "tests" / "data" / "compose-spec.json"

DOMAINS = ("content", "scheduler", "feedback")
API_PORTS = {"content": 8001, "scheduler": 8002, "feedback": 8003}
API_SERVICES = DOMAINS
WORKER_SERVICES = tuple(f"{name}-worker" for name in DOMAINS)
APP_SERVICES = API_SERVICES + WORKER_SERVICES
BACKING_SERVICES = ("postgres", "redis")
LONG_RUNNING = BACKING_SERVICES + APP_SERVICES
ALL_SERVICES = (*BACKING_SERVICES, "migrate", *APP_SERVICES)
APP_IMAGE = "mmt-reminders:local"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose.get("services")
    assert isinstance(result, dict), "docker-compose.yml has no services mapping"
    return result


def _as_argv(command: str | list[str]) -> list[str]:
    """Normalise a compose `command`/`test` (string or list) to an argument list."""
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """Normalise a service's `environment` (mapping or KEY=VALUE list) to a dict."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs from short ("[ip:]8001:8001[/tcp]") or long syntax."""
    pairs: set[tuple[int, int]] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if "published" in port:
                pairs.add((int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) >= 2:
            pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def _dockerfile_for(service: dict[str, Any]) -> Path:
    build = service["build"]
    if isinstance(build, str):
        return REPO_ROOT / build / "Dockerfile"
    context = REPO_ROOT / build.get("context", ".")
    return context / build.get("dockerfile", "Dockerfile")


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        logical.append(current)
        current = ""
    if current:
        logical.append(current)
    instructions = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


# --- the file as a whole ------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    errors = sorted(
        Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.absolute_path)
    )
    messages = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
    assert not messages, "docker-compose.yml violates the Compose schema:\n" + "\n".join(messages)


def test_schema_only_references_its_own_definitions() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    refs = set(re.findall(r'"\$ref"\s*:\s*"([^"]*)"', text))
    assert refs, "expected the schema to use $ref to its definitions"
    assert all(ref.startswith("#/definitions/") for ref in refs), refs


def test_compose_file_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = set(ALL_SERVICES) - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_the_console_runs_from_the_app_image_on_8000_and_calls_the_apis_by_name(
    services: dict[str, dict[str, Any]],
) -> None:
    console = services["console"]
    assert _as_argv(console["command"]) == ["console"]
    assert console["image"] == APP_IMAGE
    assert (8000, 8000) in _published_ports(console)
    assert console["restart"] == "unless-stopped"
    assert "http://127.0.0.1:8000/health" in " ".join(_as_argv(console["healthcheck"]["test"]))
    env = _environment(console)
    assert env["CONSOLE_SCHEDULER_BASE_URL"] == "http://scheduler:8002"
    assert env["CONSOLE_FEEDBACK_BASE_URL"] == "http://feedback:8003"
    assert env["CONSOLE_CONTENT_BASE_URL"] == "http://content:8001"
    assert set(console["depends_on"]) == {"postgres", "redis", "migrate"}


# --- health checks and restarts -----------------------------------------------------------


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    healthcheck = services[name].get("healthcheck")
    assert isinstance(healthcheck, dict), f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    test = _as_argv(healthcheck.get("test", []))
    assert test, f"{name} healthcheck has no test"
    assert test[0] in {"CMD", "CMD-SHELL"}, f"{name} healthcheck test must start with CMD"
    assert len(test) > 1, f"{name} healthcheck test has no command"
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in healthcheck, f"{name} healthcheck lacks {key}"


@pytest.mark.parametrize("name", DOMAINS)
def test_app_healthchecks_use_the_mmt_cli(services: dict[str, dict[str, Any]], name: str) -> None:
    api = _as_argv(services[name]["healthcheck"]["test"])
    worker = _as_argv(services[f"{name}-worker"]["healthcheck"]["test"])
    assert api == ["CMD", "mmt", "healthcheck", "api", name]
    assert worker == ["CMD", "mmt", "healthcheck", "worker", name]


def test_backing_service_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert _as_argv(services["postgres"]["healthcheck"]["test"])[1] == "pg_isready"
    assert _as_argv(services["redis"]["healthcheck"]["test"])[1:] == ["redis-cli", "ping"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_restarts(services: dict[str, dict[str, Any]], name: str) -> None:
    assert services[name].get("restart") == "unless-stopped"


def test_migrate_runs_once_after_postgres(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert _as_argv(migrate["command"]) == ["migrate"]
    assert migrate.get("restart", "no") == "no", "migrate must not be restarted after it exits"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


# --- app services: ordering, image, command, environment, ports --------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_dependencies(services: dict[str, dict[str, Any]], name: str) -> None:
    depends_on = services[name].get("depends_on")
    assert isinstance(depends_on, dict), f"{name} must use long-form depends_on with conditions"
    conditions = {dep: spec.get("condition") for dep, spec in depends_on.items()}
    assert conditions.get("postgres") == "service_healthy"
    assert conditions.get("redis") == "service_healthy"
    assert conditions.get("migrate") == "service_completed_successfully"


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_service_builds_the_shared_image(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    assert service.get("image") == APP_IMAGE
    dockerfile = _dockerfile_for(service)
    assert dockerfile == REPO_ROOT / "deploy" / "Dockerfile"
    assert dockerfile.is_file()


@pytest.mark.parametrize("name", DOMAINS)
def test_app_service_commands(services: dict[str, dict[str, Any]], name: str) -> None:
    assert _as_argv(services[name]["command"]) == ["serve", name]
    assert _as_argv(services[f"{name}-worker"]["command"]) == ["worker", name]


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_service_environment(services: dict[str, dict[str, Any]], name: str) -> None:
    env = _environment(services[name])
    assert env.get("DATABASE_URL", "").startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env.get("REDIS_URL", "").startswith("redis://redis:6379")
    assert env.get("SERVICE_HOST") == "0.0.0.0"
    assert {env.get(f"{d.upper()}_PORT") for d in DOMAINS} == {str(p) for p in API_PORTS.values()}


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_every_readme_setting_reaches_every_app_container(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    # BUS_CONSUMER_NAME stays per container (its host name and pid): one name shared by
    # several scaled workers would make them a single consumer.
    env = _environment(services[name])
    missing = [s for s in readme_settings() if s not in env and s != "BUS_CONSUMER_NAME"]
    assert missing == []
    assert "BUS_CONSUMER_NAME" not in env


@pytest.mark.parametrize(("name", "port"), list(API_PORTS.items()))
def test_api_service_publishes_its_port(
    services: dict[str, dict[str, Any]], name: str, port: int
) -> None:
    assert (port, port) in _published_ports(services[name])
    assert _environment(services[name]).get(f"{name.upper()}_PORT") == str(port)


@pytest.mark.parametrize("name", WORKER_SERVICES)
def test_workers_publish_no_ports(services: dict[str, dict[str, Any]], name: str) -> None:
    assert not services[name].get("ports")


# --- persistence --------------------------------------------------------------------------


def test_redis_persists_with_append_only_file(services: dict[str, dict[str, Any]]) -> None:
    argv = _as_argv(services["redis"]["command"])
    assert argv[0] == "redis-server"
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert options.get("--appendonly") == "yes"
    assert options.get("--appendfsync") == "everysec"


@pytest.mark.parametrize(
    ("name", "target"), [("postgres", "/var/lib/postgresql/data"), ("redis", "/data")]
)
def test_data_lives_in_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], name: str, target: str
) -> None:
    declared = set(compose.get("volumes") or {})
    mounts = {}
    for volume in services[name].get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume.get("source", "")
        else:
            source, _, rest = str(volume).partition(":")
            mounts[rest.split(":", 1)[0]] = source
    assert target in mounts, f"{name} does not mount a volume at {target}"
    source = mounts[target]
    assert source in declared, f"{name}'s {target} must be a named volume declared at top level"


def test_postgres_environment(services: dict[str, dict[str, Any]]) -> None:
    env = _environment(services["postgres"])
    assert env.get("POSTGRES_USER") == "mmt"
    assert env.get("POSTGRES_DB") == "mmt"
    assert env.get("POSTGRES_PASSWORD"), "POSTGRES_PASSWORD must be set"


# --- images -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SERVICES)
def test_service_image_is_pinned_to_a_tag(services: dict[str, dict[str, Any]], name: str) -> None:
    image = services[name].get("image")
    assert image, f"{name} has no image"
    last = image.rsplit("/", 1)[-1]
    assert ":" in last or "@" in last, f"{name} image {image!r} has no tag (means latest)"
    assert not last.endswith(":latest"), f"{name} image {image!r} uses latest"


def test_dockerfile_entrypoint_and_base(services: dict[str, dict[str, Any]]) -> None:
    dockerfile = _dockerfile_for(services["content"])
    instructions = _dockerfile_instructions(dockerfile)
    entrypoints = [json.loads(args) for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints, "Dockerfile has no ENTRYPOINT"
    assert entrypoints[-1] == ["mmt"]
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert bases, "Dockerfile has no FROM"
    assert all(not base.endswith(":latest") and ":" in base for base in bases), bases
    assert bases[-1] == "python:3.11-slim"


def test_dockerfile_runs_as_non_root(services: dict[str, dict[str, Any]]) -> None:
    instructions = _dockerfile_instructions(_dockerfile_for(services["content"]))
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "Dockerfile never switches away from root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_installs_from_hashed_lock(services: dict[str, dict[str, Any]]) -> None:
    instructions = _dockerfile_instructions(_dockerfile_for(services["content"]))
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any("--require-hashes" in run and "requirements.lock" in run for run in runs)
    assert any("--no-deps" in run and run.rstrip().endswith(" .") for run in runs)
