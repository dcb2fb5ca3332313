"""What a container image of this project brings to a container: read from docker/*.Dockerfile.

The final stage's ENTRYPOINT, CMD, ENV, WORKDIR and USER, so a container started from a
rendered spec gets what the image would give it (the gateway's Deployment sets `args` only and
relies on the image's ENTRYPOINT). Images are matched by repository name:
`model-rollout-<x>[:tag]` is docker/<x>.Dockerfile, a `-cuda` tag docker/<x>-cuda.Dockerfile.
Paths inside the image's virtualenv (`/opt/venv`) stand for the test's virtualenv.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
IMAGE_VENV = "/opt/venv"
#: PATH of the base image (python:3.11-slim), before the Dockerfile's own ENV.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnknownImage(LookupError):
    """Not an image built from this repository (e.g. Triton's): there is nothing to run."""


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "0"
    home: str = "/root"

    def uid_gid(self) -> tuple[int, int]:
        uid, _, gid = self.user.partition(":")
        return int(uid), int(gid or uid)


def dockerfile_for(image: str) -> Path:
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    name = repository.split("/")[-1]
    if not name.startswith("model-rollout-"):
        raise UnknownImage(f"{image}: not an image of this repository")
    component = name.removeprefix("model-rollout-")
    suffix = "-cuda" if tag.endswith("-cuda") else ""
    path = DOCKER / f"{component}{suffix}.Dockerfile"
    if not path.is_file():
        raise UnknownImage(f"{image}: no {path.relative_to(ROOT)}")
    return path


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    return lines


def _exec_form(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value.startswith("["):
        return tuple(json.loads(value))
    return ("/bin/sh", "-c", value)


def _env_pairs(value: str, env: dict[str, str]) -> dict[str, str]:
    out = {}
    for word in shlex.split(value):
        key, _, val = word.partition("=")
        out[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), val)
    return out


def _venv() -> str:
    return str(Path(sys.prefix))


def image_config(image: str) -> ImageConfig:
    """The config of the final stage of the image's Dockerfile (ARGs are not expanded)."""
    lines = _logical_lines(dockerfile_for(image).read_text())
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    env = {"PATH": BASE_PATH}
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir, user, username = "/", "0", "root"
    for line in lines[last_from + 1 :]:
        instruction, _, value = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ENV":
            env.update(_env_pairs(value, env))
        elif instruction == "ENTRYPOINT":
            entrypoint, cmd = _exec_form(value), ()  # a new ENTRYPOINT resets CMD
        elif instruction == "CMD":
            cmd = _exec_form(value)
        elif instruction == "WORKDIR":
            workdir = value.strip()
        elif instruction == "USER":
            user = value.strip()
        elif instruction == "RUN" and "useradd" in value:
            username = shlex.split(value.split("useradd", 1)[1].split("&&")[0])[-1]
    env = {k: v.replace(IMAGE_VENV, _venv()) for k, v in env.items()}
    home = "/root" if user.split(":")[0] in ("0", "root") else f"/home/{username}"
    return ImageConfig(entrypoint, cmd, env, workdir, user, home)
