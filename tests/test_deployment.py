"""Deployment files checked without a container engine: docker-compose.yml, Dockerfile, .env.example.

No daemon runs on these machines, so the compose file is parsed (PyYAML) and its variables interpolated the way
docker compose does; the commands the containers run are checked against the real CLI, modules and settings.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import typer
import yaml
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from agents.celery_app import create_app
from core.config import Settings
from core.config_env import COMPOSE_ONLY, is_secret, known_names, render_env_example, settings_env
from core.db.engine import resolve_url
from core.llm.factory import LOCAL_MODEL_ALIAS, get_chat_model, model_config
from core.llm.local_server import model_path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("migrate", "api", "worker", "beat")
LONG_RUNNING = ("db", "redis", "api", "worker", "beat", "llm", "flower")
# Filled in for tests that interpolate: the two values .env.example leaves for the operator to choose.
OPERATOR = {"POSTGRES_PASSWORD": "s3cret-from-dotenv", "FLOWER_BASIC_AUTH": "ops:pw-from-dotenv"}


class InterpolationError(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty: docker compose refuses the file with that message."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-file interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, ${VAR:+a}, ${VAR+a}.

    Defaults may nest further expressions, as compose allows.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 1)
            out.append(_expand(text[i + 2:end], env))
            i = end + 1
        elif re.match(r"[A-Za-z_]", nxt):
            name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i + 1:])
            assert name is not None
            out.append(env.get(name.group(0), ""))
            i += 1 + len(name.group(0))
        else:
            raise InterpolationError(f"invalid interpolation at {text[i:i + 20]!r}")
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def _expand(expr: str, env: dict[str, str]) -> str:
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", expr, re.DOTALL)
    if match is None:
        raise InterpolationError(f"invalid expression ${{{expr}}}")
    name, op, arg = match.group(1), match.group(2), match.group(3) or ""
    value = env.get(name)
    unset_or_empty = not value
    if op is None:
        return value or ""
    missing = unset_or_empty if op.startswith(":") else value is None
    if op.endswith("-"):
        return interpolate(arg, env) if missing else str(value)
    if op.endswith("?"):
        if missing:
            raise InterpolationError(f"{name}: {interpolate(arg, env)}")
        return str(value)
    return "" if missing else interpolate(arg, env)


def variables(text: str) -> set[str]:
    """Every variable a compose string refers to (nested defaults included); `$$` is a literal dollar."""
    text = text.replace("$$", "")
    return set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML tree, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def parse_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """(variables set, names of settings shown commented out as `# NAME=default`)."""
    assigned: dict[str, str] = {}
    commented: set[str] = set()
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line):
            assigned[match.group(1)] = match.group(2)
        elif match := re.fullmatch(r"# ([A-Z_][A-Z0-9_]*)=(.*)", line):
            commented.add(match.group(1))
    return assigned, commented


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dotenv() -> dict[str, str]:
    """The environment compose sees with .env copied from .env.example and its two required values filled in."""
    assigned, _ = parse_env_file(ENV_EXAMPLE)
    return {**assigned, **OPERATOR}


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    """The real `salesagents` app with its commands attached (once: attaching twice would duplicate them)."""
    from api.cli import main

    if not main.app.registered_groups:
        main._register()
    return main.app


def command(service: dict[str, Any]) -> list[str]:
    value = service["command"]
    return value if isinstance(value, list) else shlex.split(value)


# ---- services, images, health, scaling ----

def test_every_service_is_defined_with_the_expected_image(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"db", "redis", "migrate", "api", "worker", "beat", "llm", "flower"}
    assert re.fullmatch(r"pgvector/pgvector:pg1[67]", services["db"]["image"])
    assert services["redis"]["image"].startswith("redis:")
    assert services["flower"]["image"].startswith("mher/flower:")
    app_images = {services[name]["image"] for name in APP_SERVICES}
    assert len(app_images) == 1, f"API, workers, beat and migrate must run one image, got {app_images}"
    for name in APP_SERVICES:
        assert services[name]["build"]["args"]["WITH_LLAMA"] == "false"
    assert services["llm"]["build"]["args"]["WITH_LLAMA"] == "true"
    assert services["llm"]["image"] not in app_images


def test_db_redis_api_and_llm_have_health_checks_that_test_the_real_thing(
        services: dict[str, dict[str, Any]]) -> None:
    for name in ("db", "redis", "api", "llm", "worker"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    api_port = command(services["api"])[command(services["api"]).index("--port") + 1]
    assert f"http://127.0.0.1:{api_port}/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    llm_check = " ".join(services["llm"]["healthcheck"]["test"])
    # /v1/models answers even when generation would crash (ENGINEERING.md): the check must complete a prompt.
    assert "/v1/chat/completions" in llm_check and "'max_tokens': 2" in llm_check
    assert f"'model': '{LOCAL_MODEL_ALIAS}'" in llm_check


def test_worker_scales_and_beat_cannot(services: dict[str, dict[str, Any]]) -> None:
    worker, beat = services["worker"], services["beat"]
    assert "container_name" not in worker, "`--scale worker=N` fails with a fixed container name"
    assert "ports" not in worker, "replicas cannot share host ports"
    assert worker.get("deploy", {}).get("replicas", 1) >= 1
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    # compose refuses to scale a service with a container name: a second beat would fire every schedule twice.
    assert beat.get("container_name")
    assert "ports" not in beat


def test_migrations_run_once_before_the_api_and_the_workers(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert command(migrate) == ["salesagents", "db", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["db"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_every_dependency_exists_and_waits_only_on_what_can_be_healthy(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no health check"
            if services[target].get("profiles") and not service.get("profiles"):
                assert spec.get("required") is False, f"{name} needs {target}, which only runs in a profile"


def test_restart_policies_and_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        assert services[name]["restart"] in ("unless-stopped", "always"), name
    named = set(compose["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source.startswith((".", "/")) or source in named, f"{name}: volume {source} is not declared"
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert any(mount.startswith("redis-data:") for mount in services["redis"]["volumes"])


def test_beat_keeps_its_schedule_state_on_its_volume(services: dict[str, dict[str, Any]], dotenv: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in resolved_app_environment(services["beat"], dotenv).items():
        monkeypatch.setenv(name, value)
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    targets = [mount.split(":")[1] for mount in services["beat"]["volumes"]]
    assert any(str(app.conf.beat_schedule_filename).startswith(f"{target}/") for target in targets), \
        f"{app.conf.beat_schedule_filename} is not on a volume of beat ({targets})"


# ---- environment: names, values, secrets ----

def resolved_app_environment(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    return {name: interpolate(str(value), env) for name, value in service["environment"].items()}


def test_every_variable_named_in_compose_is_a_setting_or_a_compose_variable(
        compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    named = set().union(*(variables(text) for text in strings(compose)))  # `$$VAR` (container-side) excluded
    unknown_named = named - known_names()
    assert not unknown_named, f"compose names variables that are neither settings nor compose-only: {unknown_named}"
    setting_names = known_names() - set(COMPOSE_ONLY)
    for name in APP_SERVICES:
        unknown = set(services[name]["environment"]) - setting_names
        assert not unknown, f"{name} sets variables the settings class does not read: {unknown}"
        assert services[name]["env_file"] == ".env"


def test_env_example_lists_every_setting_and_nothing_unknown() -> None:
    assigned, commented = parse_env_file(ENV_EXAMPLE)
    listed = set(assigned) | commented
    missing = [setting.name for setting in settings_env() if setting.name not in listed]
    assert not missing, f"add to .env.example (python -m core.config_env > .env.example): {missing}"
    unknown = listed - known_names()
    assert not unknown, f".env.example names variables no setting reads: {unknown}"
    assert set(COMPOSE_ONLY) <= set(assigned)
    secrets = [setting for setting in settings_env() if is_secret(setting.field, Settings.model_fields[setting.field])]
    assert {"llm_api_key", "embedding_api_key", "smtp_password"} <= {setting.field for setting in secrets}
    for setting in secrets:
        assert f"# {setting.name}=\n" in ENV_EXAMPLE.read_text(), f"{setting.name} must have no example value"


def test_the_generator_writes_every_setting_and_compose_variable(tmp_path: Path) -> None:
    generated = tmp_path / ".env.example"
    generated.write_text(render_env_example())
    assigned, commented = parse_env_file(generated)
    assert {setting.name for setting in settings_env()} == commented
    assert set(assigned) == set(COMPOSE_ONLY)


def test_the_env_generator_knows_aliases_and_the_prefix() -> None:
    by_field = {setting.field: setting for setting in settings_env()}
    assert by_field["database_url"].names == ("DATABASE_URL", "SALESAGENTS_DATABASE_URL")
    assert by_field["llm_api_key"].names == ("SALESAGENTS_LLM_API_KEY", "OPENAI_API_KEY")
    assert by_field["broker_url"].names == ("SALESAGENTS_BROKER_URL",)
    assert by_field["agent_modules"].default.startswith('["agents.')
    assert by_field["data_dir"].default == "<checkout>/.data"
    assert set(by_field) == set(Settings.model_fields)


def test_compose_environment_gives_valid_settings_pointing_at_the_compose_services(
        services: dict[str, dict[str, Any]], dotenv: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    environments = [resolved_app_environment(services[name], dotenv) for name in APP_SERVICES]
    assert all(env == environments[0] for env in environments)
    for name, value in environments[0].items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    url = resolve_url(settings)
    assert (url.drivername, url.host, url.port, url.database) == ("postgresql+psycopg", "db", 5432, "salesagents")
    assert url.password == OPERATOR["POSTGRES_PASSWORD"]
    assert settings.broker_url == "redis://redis:6379/0"
    assert str(settings.data_dir) == "/data"
    llm = model_config("default", settings)
    assert llm.base_url == "http://llm:8080/v1" and llm.model == LOCAL_MODEL_ALIAS
    llm_cmd = " ".join(command(services["llm"]))
    assert "--port 8080" in llm_cmd and f"--model_alias {LOCAL_MODEL_ALIAS}" in llm_cmd


def test_dotenv_values_override_the_compose_defaults(services: dict[str, dict[str, Any]],
                                                     dotenv: dict[str, str]) -> None:
    external = {**dotenv, "DATABASE_URL": "postgresql://app:pw@pg.internal:5432/crm",
                "SALESAGENTS_LLM_BASE_URL": "https://api.openai.com/v1", "SALESAGENTS_LLM_MODEL": "gpt-4o-mini",
                "SALESAGENTS_BROKER_URL": "redis://queue.internal:6379/2"}
    env = resolved_app_environment(services["worker"], external)
    assert make_url(env["DATABASE_URL"]).host == "pg.internal"
    assert env["SALESAGENTS_LLM_BASE_URL"] == "https://api.openai.com/v1"
    assert env["SALESAGENTS_LLM_MODEL"] == "gpt-4o-mini"
    assert env["SALESAGENTS_BROKER_URL"] == "redis://queue.internal:6379/2"
    assert interpolate(services["flower"]["environment"]["CELERY_BROKER_URL"], external) == \
        "redis://queue.internal:6379/2", "Flower must watch the broker the workers use"


def test_compose_refuses_to_start_without_the_operator_secrets(services: dict[str, dict[str, Any]],
                                                               dotenv: dict[str, str]) -> None:
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        interpolate(services["db"]["environment"]["POSTGRES_PASSWORD"], {**dotenv, "POSTGRES_PASSWORD": ""})
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        resolved_app_environment(services["api"], {**dotenv, "POSTGRES_PASSWORD": ""})
    with pytest.raises(InterpolationError, match="FLOWER_BASIC_AUTH"):
        interpolate(services["flower"]["environment"]["FLOWER_BASIC_AUTH"], {**dotenv, "FLOWER_BASIC_AUTH": ""})


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("a$$b ${SET} $SET ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${SET:+alt} ${UNSET:+alt}", env) == \
        "a$b x x d  d alt "
    assert interpolate("${UNSET:-${ALSO_UNSET:-deep}}", env) == "deep"
    with pytest.raises(InterpolationError, match="EMPTY: need it"):
        interpolate("${EMPTY:?need it}", env)
    assert interpolate("${EMPTY?fine}", env) == ""
    assert variables("$${HOSTNAME} ${A:-${B}} $C") == {"A", "B", "C"}


SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN|BASIC_AUTH", re.IGNORECASE)


def test_no_literal_secret_in_the_compose_file(compose: dict[str, Any]) -> None:
    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{path}[{index}]")
        elif isinstance(node, str):
            yield path, node

    for path, value in walk(compose, ""):
        if SECRET_NAME.search(path.rsplit(".", 1)[-1]):
            assert re.fullmatch(r"\$\{[A-Z_]+(:?\?[^}]*)?\}", value), f"{path} must come from .env, not {value!r}"
        for url in re.findall(r"[a-z+]+://[^\s'\"]+", value):
            if "@" in url:
                userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
                password = userinfo.split(":", 1)[1] if ":" in userinfo else ""
                assert not password or password.startswith("${"), f"{path}: literal password in {url}"


def test_env_example_holds_no_secret_value() -> None:
    assigned, _ = parse_env_file(ENV_EXAMPLE)
    for name, value in assigned.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example must leave {name} for the operator to choose"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()


# ---- the commands the containers run ----

def test_salesagents_commands_in_compose_exist_in_the_cli(services: dict[str, dict[str, Any]],
                                                          cli: typer.Typer) -> None:
    runner = CliRunner()
    checked = []
    for name, service in services.items():
        if "command" in service and command(service)[0] == "salesagents":
            result = runner.invoke(cli, [*command(service)[1:], "--help"])
            assert result.exit_code == 0, f"{name}: {command(service)} -> {result.output}"
            checked.append(name)
    assert set(checked) == {"migrate", "worker", "beat"}
    wrong = runner.invoke(cli, ["worker", "--concurrency", "2", "--no-such-option", "--help"])
    assert wrong.exit_code != 0, "the check above must be able to fail"


def test_the_api_command_names_the_asgi_factory(services: dict[str, dict[str, Any]]) -> None:
    cmd = command(services["api"])
    assert cmd[0] == "uvicorn" and "--factory" in cmd
    module, _, attr = cmd[cmd.index("--factory") + 1].partition(":")
    assert importlib.util.find_spec("uvicorn") is not None, "uvicorn must be a dependency of the package"
    app_module = importlib.import_module(module)
    assert callable(getattr(app_module, attr))


def test_worker_health_check_and_llm_command_use_real_modules(services: dict[str, dict[str, Any]]) -> None:
    health = " ".join(services["worker"]["healthcheck"]["test"])
    celery_module = re.search(r"celery -A (\S+) inspect ping", health)
    assert celery_module is not None
    assert importlib.util.find_spec(celery_module.group(1)) is not None
    llm_cmd = " ".join(command(services["llm"]))
    assert "from core.llm.local_server import model_path" in llm_cmd
    assert model_path().is_file()
    assert "--chat_format chatml" in llm_cmd


def test_the_compose_llm_gets_max_tokens_like_the_embedded_one(services: dict[str, dict[str, Any]],
                                                                dotenv: dict[str, str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp's server ignores `max_completion_tokens`; without `max_tokens` it would write up to n_ctx."""
    for name, value in resolved_app_environment(services["worker"], dotenv).items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    sent: list[dict[str, Any]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 0, "model": LOCAL_MODEL_ALIAS,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "OK"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

    chat = get_chat_model(settings=settings, http_client=httpx.Client(transport=httpx.MockTransport(reply)))
    assert chat.invoke("Say OK.").content == "OK"
    assert sent[0]["model"] == LOCAL_MODEL_ALIAS
    assert sent[0]["max_tokens"] == settings.llm_max_tokens


# ---- Dockerfile ----

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in dockerfile_instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def test_dockerfile_builds_from_python_311_slim_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    known = {"FROM", "ARG", "ENV", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "CMD", "ENTRYPOINT", "LABEL"}
    assert {keyword for keyword, _ in instructions} <= known
    global_args = {}
    for keyword, args in instructions:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = args.partition("=")
            global_args[name] = default
    images = [re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], args.split()[0])
              for keyword, args in instructions if keyword == "FROM" and not args.startswith("build ")]
    assert images and all(image == "python:3.11-slim" for image in images), images
    final = stages()[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), "the image must not run as root"
    assert any(keyword == "COPY" and "--from=build" in args for keyword, args in final), "multi-stage: copy the venv"
    assert not any("build-essential" in args for keyword, args in final if keyword == "RUN")


def test_dockerfile_builds_llama_portably_and_only_on_request() -> None:
    build = stages()[0]
    assert ("ARG", "WITH_LLAMA=false") in build
    runs = " ".join(args for keyword, args in build if keyword == "RUN")
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in runs and "--no-binary llama-cpp-python" in runs
    assert "--index-url" in runs and "TORCH_INDEX_URL" in runs
    assert "pip install --no-deps ." in runs


def test_dockerfile_copies_every_package_the_project_ships() -> None:
    copies = [args.split() for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    sources = {part for parts in copies if not parts[0].startswith("--from") for part in parts[:-1]}
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    shipped = {pattern.rstrip("*") for pattern in packages["include"]}
    assert shipped <= sources, f"the image misses packages: {shipped - sources}"
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert not (sources & ignored), "a copied path is excluded from the build context"
    assert {".env", ".venv", ".data", ".git"} <= ignored


def test_dockerfile_default_command_is_the_api_of_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    cmds = [args for keyword, args in stages()[-1] if keyword == "CMD"]
    assert cmds, "no CMD"
    assert json.loads(cmds[-1]) == command(services["api"])


# ---- deploy/requirements.py (run inside the Docker build) ----

def load_requirements_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_requirements", ROOT / "deploy" / "requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_requirements"] = module
    spec.loader.exec_module(module)
    return module


def test_requirements_split_torch_and_llama_from_the_rest() -> None:
    script = load_requirements_script()
    pyproject = ROOT / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    torch = script.requirements(pyproject, with_llama=False, torch=True)
    plain = script.requirements(pyproject, with_llama=False, torch=False)
    full = script.requirements(pyproject, with_llama=True, torch=False)
    assert torch == [dep for dep in deps if dep.startswith("torch")] and torch[0].startswith("torch==")
    assert not any(script.distribution(dep) == "llama-cpp-python" for dep in plain)
    assert sorted(set(full) - set(plain)) == [dep for dep in deps if dep.startswith("llama-cpp-python")]
    assert sorted(torch + full) == sorted(deps)
    assert script.distribution("psycopg[binary]>=3.2,<4") == "psycopg"
    assert script.distribution("Llama_CPP.Python[server]>=0.3") == "llama-cpp-python"
    assert script.main(["--bogus"]) == 2
