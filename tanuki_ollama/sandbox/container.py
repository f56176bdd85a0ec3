"""The container backend: Docker or Podman (its Docker-compatible socket) through the ``docker`` SDK.

One throw-away container per phase from the image built from ``sandbox/Containerfile``
(``TANUKI_SANDBOX_IMAGE``, default ``tanuki-sandbox:latest``): no network, read-only root, uid 65534, all
capabilities dropped, no_new_privs, pids/memory/CPU limits, explicit ulimits, size-limited tmpfs for /work and
/tmp, removed with ``force`` at the end or at the wall limit. Files go in as a base64 tar in the environment
(so a remote engine works too); cached artifacts are bind-mounted read-only (needs a local engine). Output is
returned as one tar on stdout (program stdout/stderr capped by the wrapper, exit status, collected files).

Not covered here: the engine's own security (a Docker socket is root-equivalent; prefer rootless Podman) and
gVisor (set ``TANUKI_SANDBOX_RUNTIME=runsc`` to use it where installed).
"""

from __future__ import annotations

import base64
import io
import math
import os
import shlex
import tarfile
import time
from typing import Literal

from ..errors import ToolchainMissing
from .cache import UnsafeArchive, safe_members
from .models import MiB, PhaseResult
from .protocol import Phase, PhaseOutcome

DEFAULT_IMAGE = "tanuki-sandbox:latest"
_ENV_FILES_MAX = 96 * 1024  # one environment string must stay under the kernel's 128 KiB
BUILD_HINT = "docker build -t tanuki-sandbox:latest -f sandbox/Containerfile sandbox/"

_WRAPPER = r"""
set -u
mkdir -p /tmp/.t
printf %s "$TANUKI_FILES" | base64 -d | tar -x -C / || exit 121
unset TANUKI_FILES
cd /work
r=0
"$@" </tmp/.t/stdin >/tmp/.t/stdout 2>/tmp/.t/stderr || r=$?
echo $r >/tmp/.t/rc
head -c "$TANUKI_OUT" /tmp/.t/stdout >/tmp/.t/stdout.cap; head -c "$TANUKI_OUT" /tmp/.t/stderr >/tmp/.t/stderr.cap
wc -c </tmp/.t/stdout >/tmp/.t/stdout.len; wc -c </tmp/.t/stderr >/tmp/.t/stderr.len
tar -cf - -C / tmp/.t/rc tmp/.t/stdout.cap tmp/.t/stderr.cap tmp/.t/stdout.len tmp/.t/stderr.len \
  $(cd / && for p in $TANUKI_EXPORT; do [ -e "work/$p" ] && printf '%s ' "work/$p"; done) 2>/dev/null
"""


class ContainerBackend:
    name = "container"

    def __init__(self, client, image: str):
        self.client = client
        self.image = image
        self.runtime = os.environ.get("TANUKI_SANDBOX_RUNTIME") or None
        self.warnings: list[str] = []
        self.isolation: Literal["full", "reduced"] = "full"

    @classmethod
    def connect(cls, image: str | None = None) -> ContainerBackend:
        try:
            import docker
            from docker.errors import DockerException, ImageNotFound
        except ImportError:
            raise ToolchainMissing("the docker SDK is not installed", "pip install docker") from None
        image = image or os.environ.get("TANUKI_SANDBOX_IMAGE", DEFAULT_IMAGE)
        try:
            client = docker.from_env(timeout=5)
            client.ping()
        except DockerException as exc:
            raise ToolchainMissing(f"no container engine answers ({str(exc).splitlines()[0][:120]})",
                                   "start Docker or `podman system service`, or set DOCKER_HOST") from None
        try:
            client.images.get(image)
        except ImageNotFound:
            raise ToolchainMissing(f"the sandbox image {image} is missing", BUILD_HINT) from None
        return cls(client, image)

    def describe(self) -> str:
        return f"image {self.image}" + (f", runtime {self.runtime}" if self.runtime else "")

    def sandbox_paths(self) -> dict[str, str]:
        return {"work": "/work", "tmp": "/tmp"}

    def execute(self, phase: Phase) -> PhaseOutcome:
        import requests
        from docker.types import Ulimit

        lim = phase.limits
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            def add(name: str, data: bytes, mode: int = 0o644) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
            for d in phase.dirs:
                info = tarfile.TarInfo(f"work/{d}")
                info.type, info.mode = tarfile.DIRTYPE, 0o777
                tar.addfile(info)
            for name, data in phase.files.items():
                add(f"work/{name}", data)
            add("tmp/.t/stdin", phase.stdin)
        files_b64 = base64.b64encode(buf.getvalue()).decode()
        if len(files_b64) > _ENV_FILES_MAX:
            raise ToolchainMissing("the files are too large for the container backend (96 KiB)",
                                   "use the jail backend for large inputs")
        cpu = max(1, math.ceil(lim.cpu_s))
        container = self.client.containers.create(
            self.image, command=["/bin/sh", "-c", _WRAPPER, "tanuki", *phase.argv],
            user="65534:65534", network_mode="none", read_only=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=lim.processes,
            mem_limit=lim.memory_mb * MiB, memswap_limit=lim.memory_mb * MiB, nano_cpus=int(lim.cpus * 1e9),
            ulimits=[Ulimit(name="cpu", soft=cpu, hard=cpu + 1), Ulimit(name="nofile", soft=lim.open_files,
                     hard=lim.open_files), Ulimit(name="fsize", soft=lim.file_size_mb * MiB,
                     hard=lim.file_size_mb * MiB), Ulimit(name="core", soft=0, hard=0),
                     Ulimit(name="nproc", soft=lim.processes, hard=lim.processes)],
            tmpfs={"/work": f"size={lim.workdir_mb}m,mode=1777,exec", "/tmp": f"size={lim.tmp_mb}m,mode=1777"},
            volumes={str(h): {"bind": d, "mode": "ro"} for h, d in phase.binds},
            working_dir="/", environment={**phase.env, "TANUKI_FILES": files_b64,
                                          "TANUKI_OUT": str(lim.output_bytes),
                                          "TANUKI_EXPORT": " ".join(shlex.quote(p) for p in phase.export)},
            runtime=self.runtime, detach=True, labels={"tanuki.sandbox": "1"}, init=True,
        )
        start = time.monotonic()
        timed_out = False
        try:
            container.start()
            try:
                status = container.wait(timeout=lim.wall_s)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):  # the wall limit
                timed_out = True
                status = {"StatusCode": None}
            duration = time.monotonic() - start
            oom = bool(container.attrs.get("State", {}).get("OOMKilled")) if not timed_out else False
            if not timed_out:
                container.reload()
                oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            raw = b"" if timed_out else container.logs(stdout=True, stderr=False)
        finally:
            container.remove(force=True)
        got: dict[str, bytes] = {}
        try:
            for name, content, _ in safe_members(raw, phase.export_limit_bytes + 2 * lim.output_bytes + MiB):
                if content is not None:
                    got[str(name)] = content
        except UnsafeArchive:
            pass
        rc = got.get("tmp/.t/rc", b"").strip()
        exit_code = int(rc) if rc.isdigit() else status.get("StatusCode")
        sig = exit_code - 128 if exit_code is not None and 128 < exit_code <= 192 else None
        out_len = sum(int(got.get(f"tmp/.t/{s}.len", b"0").strip() or 0) for s in ("stdout", "stderr"))
        truncated = out_len > lim.output_bytes
        limit = "wall" if timed_out else "memory" if oom else "output" if truncated else None
        if limit is None and sig == 24:
            limit = "cpu"
        result = PhaseResult(
            stdout=got.get("tmp/.t/stdout.cap", b"").decode("utf-8", "replace"),
            stderr=got.get("tmp/.t/stderr.cap", b"").decode("utf-8", "replace"),
            exit_code=None if timed_out else exit_code, signal=9 if timed_out else sig,
            timed_out=limit in ("wall", "cpu"), oom_killed=oom, output_truncated=truncated, limit_hit=limit,
            duration_s=round(duration, 4),
        )
        archive = None
        if phase.export:
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w") as tar:
                for name, content in got.items():
                    if name.startswith("work/"):
                        info = tarfile.TarInfo(name[len("work/"):])
                        info.size, info.mode = len(content), 0o755
                        tar.addfile(info, io.BytesIO(content))
            archive = out.getvalue()
        return PhaseOutcome(result, archive)
