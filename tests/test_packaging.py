"""Static checks of the container packaging (issue 2, item 8), plus a live run of the
image's HEALTHCHECK probe against a local server.

Building the image needs podman or docker and network access, so it is not done here;
these tests pin the properties a build would not reject on its own: the base image is a
build ARG, the final stage is non-root, the probe really detects a dead /healthz, the
compose file gives Redis a persistent AOF volume, and the build context holds what the
Dockerfile copies.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions (comments dropped, ``\\`` continuations joined)."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Group instructions by build stage (each starts at a FROM)."""
    result: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def exec_form(args: str) -> list[str]:
    """The JSON (exec form) argument list of CMD/HEALTHCHECK CMD."""
    value = json.loads(args)
    assert isinstance(value, list)
    return [str(v) for v in value]


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def test_base_image_is_a_build_arg_used_by_every_stage(dockerfile: list[Instruction]) -> None:
    # An ARG before the first FROM is the only kind a FROM line can use.
    first = dockerfile[0]
    assert first.keyword == "ARG"
    name, _, default = first.args.partition("=")
    assert default.startswith("python:3.11-slim")
    froms = [ins.args.split()[0] for ins in dockerfile if ins.keyword == "FROM"]
    assert len(froms) >= 2, "expected a builder stage and a runtime stage"
    assert all(ref == f"${{{name}}}" for ref in froms), froms


def test_final_stage_runs_as_a_non_root_user_it_creates(dockerfile: list[Instruction]) -> None:
    final = stages(dockerfile)[-1]
    users = [i for i, ins in enumerate(final) if ins.keyword == "USER"]
    cmd = next(i for i, ins in enumerate(final) if ins.keyword == "CMD")
    assert users
    assert users[-1] < cmd
    user = final[users[-1]].args.split(":")[0]
    assert user not in {"root", "0"}
    created = " ".join(ins.args for ins in final if ins.keyword == "RUN")
    assert f"useradd --uid {user} " in created


def test_cmd_serves_the_config_copied_into_the_image(dockerfile: list[Instruction]) -> None:
    final = stages(dockerfile)[-1]
    cmd = exec_form(next(ins.args for ins in final if ins.keyword == "CMD"))
    assert cmd[:2] == ["feedsvc", "serve"]
    config_file = PurePosixPath(cmd[cmd.index("-c") + 1])
    copies = [ins.args.split() for ins in final if ins.keyword == "COPY"]
    assert ["config", str(config_file.parent)] in copies
    # the shipped default that the image (and the compose bind mount) carries
    assert (ROOT / "config" / config_file.name).is_file()
    assert _env(final)["FEEDSVC_CONFIG"] == str(config_file)


def test_exposed_port_is_the_port_the_service_listens_on(dockerfile: list[Instruction]) -> None:
    final = stages(dockerfile)[-1]
    exposed = {ins.args.split("/")[0] for ins in final if ins.keyword == "EXPOSE"}
    assert {_env(final)["FEEDSVC_LISTEN"].rpartition(":")[2]} == exposed == {"8080"}


def _healthcheck_code(dockerfile: list[Instruction]) -> str:
    args = next(ins.args for ins in stages(dockerfile)[-1] if ins.keyword == "HEALTHCHECK")
    probe = exec_form(args[args.index("CMD") + len("CMD") :].strip())
    assert probe[:2] == ["python", "-c"]
    assert "/healthz" in probe[2]
    return probe[2]


async def _probe(code: str, listen: str, **extra_env: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(FEEDSVC_LISTEN=listen, **extra_env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await proc.wait()


async def test_healthcheck_probe_tells_live_from_dead(dockerfile: list[Instruction]) -> None:
    code = _healthcheck_code(dockerfile)
    status = {"code": 200}

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=status["code"], text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        # the in-image default listen address: probe loopback on its port
        assert await _probe(code, f"0.0.0.0:{port}") == 0
        # an inherited proxy must not capture the loopback probe
        assert await _probe(code, f"0.0.0.0:{port}", http_proxy="http://127.0.0.1:9") == 0
        status["code"] = 503
        assert await _probe(code, f"0.0.0.0:{port}") != 0
    finally:
        await runner.cleanup()
    # nothing listening any more
    assert await _probe(code, f"0.0.0.0:{port}") != 0


def test_compose_repeats_the_image_healthcheck(
    compose: dict[str, Any], dockerfile: list[Instruction]
) -> None:
    """podman-compose builds in the OCI format, which has no HEALTHCHECK: the service
    carries the image's probe itself, word for word."""
    test = compose["services"]["feedsvc"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert test[3] == _healthcheck_code(dockerfile)


def test_compose_redis_persists_with_aof_on_a_named_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    words = command if isinstance(command, list) else shlex.split(command)
    assert words[words.index("--appendonly") + 1] == "yes"
    named = {v.split(":")[0] for v in redis["volumes"] if ":" in v}
    declared = set(compose.get("volumes") or {})
    assert any(v.split(":")[1] == "/data" and v.split(":")[0] in declared for v in redis["volumes"])
    assert named & declared
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])
    assert redis["restart"] == "unless-stopped"


def test_compose_service_waits_for_redis_and_points_at_it(compose: dict[str, Any]) -> None:
    svc = compose["services"]["feedsvc"]
    assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert svc["restart"] == "unless-stopped"
    url = svc["environment"]["FEEDSVC_REDIS_URL"]
    host = url.split("://", 1)[1].split("/", 1)[0].split(":")[0]
    assert host in compose["services"], f"{url} names no compose service"
    assert "./config:/app/config:ro" in svc["volumes"]
    assert any(str(p).endswith(":8080") for p in svc["ports"])


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        variants = [pattern]
        if pattern.startswith("**/"):
            variants.append(pattern[3:])
            variants.append("*/" + pattern[3:])
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            ignored = not negate
    return ignored


def test_build_context_holds_what_the_dockerfile_copies(dockerfile: list[Instruction]) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    sources = [
        src
        for ins in dockerfile
        if ins.keyword == "COPY" and "--from" not in ins.args
        for src in ins.args.split()[:-1]
    ]
    assert {"pyproject.toml", "feedsvc", "config"} <= set(sources)
    for src in sources:
        assert not _ignored(src, patterns), src
    assert not _ignored("feedsvc/cli.py", patterns)
    assert not _ignored("config/sites/example.txt", patterns)
    for private in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_x.py",
        "feedsvc/__pycache__/a.pyc",
    ):
        assert _ignored(private, patterns), private
