"""Start `kindred serve` gateways and run `kindred` commands for tests (the servers they need,
redis-server and PostgreSQL, are in procs.py; the rules of process.py hold here too: output to
files, every wait scaled by TIMEOUT_SCALE, every live process killed at exit).

Gateways and commands are forked from a process that imported the server once
(support/zygote.py), unless KINDRED_TEST_FORK=0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from support import zygote
from support.process import TIMEOUT_SCALE, Proc, ServerProcess, open_log, tail


class Gateway(ServerProcess):
    """One `kindred serve` process (the app under test). stop() (or terminate()) is a
    graceful shutdown; one that takes too long has its tasks' stacks dumped into the log."""

    ready_means = "GET /healthz == 200"
    ready_timeout_s = 45  # generous: two test workers start gateways side by side on two cores
    stop_timeout_s = 30

    def __init__(
        self, env: Mapping[str, str], workdir: Path, name: str = "gw", port: int | None = None
    ) -> None:
        super().__init__(workdir, f"{name}.log", port)
        self.env = dict(env)
        self.name = name

    @property
    def what(self) -> str:
        return f"gateway {self.name}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):  # HTTPError (e.g. 503) is a URLError
            return False

    def _spawn(self) -> Proc:
        env = {
            **os.environ, **self.env, "KINDRED_HOST": "127.0.0.1", "KINDRED_PORT": str(self.port)
        }
        with open_log(self.log_path) as log:
            log.write(f"=== {self.name}: starting on port {self.port} ===\n".encode())
            log.flush()
            if zygote.usable(env):
                # `kindred serve` forked from a process that imported the server once.
                return zygote.spawn(["serve"], env, self.workdir, self.log_path)
            return subprocess.Popen(
                [sys.executable, "-m", "chat_server", "serve"],
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def terminate(self) -> int:
        """SIGTERM (graceful shutdown) and return the exit code."""
        code = self.stop()
        if code is None:
            raise RuntimeError(f"gateway {self.name} was never started")
        return code

    def _before_kill(self) -> None:
        """Before killing a gateway that would not stop: its tasks' stacks into its log."""
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGUSR1)
            time.sleep(1)

    def __exit__(self, *exc: object) -> None:
        self.kill()


def start_together(gateways: Sequence[Gateway]) -> None:
    """Start ``gateways`` side by side (each start blocks until its /healthz answers, mostly
    importing the server); if any fails, those that came up are killed and the first error
    is raised."""
    if len(gateways) <= 1:
        for gw in gateways:
            gw.start()
        return
    errors: list[BaseException] = []

    def start(gw: Gateway) -> None:
        try:
            gw.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(gw,), name=f"start-{gw.name}") for gw in gateways]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for gw in gateways:
            with contextlib.suppress(Exception):
                gw.kill()
        raise errors[0]


# --------------------------------------------------------------------------- cli


# Runs each step with chat_server.cli.main in one interpreter; stops at the first that fails.
_STEPS = """
import json, sys
from chat_server.cli import main
for step in json.loads(sys.argv[1]):
    code = main(step)
    if code:
        print("step failed:", step, "exit", code, file=sys.stderr)
        sys.exit(code)
"""


def run_cli_steps(
    steps: Sequence[Sequence[str]], env: Mapping[str, str], cwd: Path, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Several `kindred` commands in one process, in order (``run_cli`` for each, but the
    server's modules imported once); raise AssertionError with the output on a failure."""
    return run_cli(["-c", _STEPS, json.dumps([list(s) for s in steps])], env, cwd, timeout_s, module=False)


def run_cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float = 60, module: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `python -m chat_server ARGS` (`python ARGS` when not ``module``); raise
    AssertionError with its output on failure."""
    argv = [sys.executable, *(["-m", "chat_server"] if module else []), *args]
    if module and zygote.usable({**os.environ, **env}):
        result = _forked_cli(list(args), {**os.environ, **env}, cwd, timeout_s)
    else:
        result = _spawned_cli(argv, args, env, cwd, timeout_s)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def _forked_cli(
    args: list[str], env: Mapping[str, str], cwd: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """The command forked from the zygote (the server's import paid once), output to files."""
    with tempfile.TemporaryDirectory(prefix="kindred-cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        proc = zygote.spawn(args, env, cwd, out, err)
        try:
            code = proc.wait(timeout_s * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"{' '.join(args)} timed out after {timeout_s * TIMEOUT_SCALE}s\n"
                f"--- stdout ---\n{tail(out, 200)}\n--- stderr ---\n{tail(err, 200)}"
            ) from None
        stdout = out.read_text(errors="replace") if out.exists() else ""
        stderr = err.read_text(errors="replace") if err.exists() else ""
    return subprocess.CompletedProcess(["kindred", *args], code, stdout, stderr)


def _spawned_cli(
    argv: list[str], args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    try:
        # Pipes are fine here: run() drains them while waiting.
        result = subprocess.run(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s * TIMEOUT_SCALE,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"{' '.join(args)} timed out after {timeout_s * TIMEOUT_SCALE}s\n"
            f"--- stdout ---\n{_text(e.stdout)}\n--- stderr ---\n{_text(e.stderr)}"
        ) from None
    return result


def _text(out: str | bytes | None) -> str:
    # TimeoutExpired carries bytes even when text=True was requested.
    if out is None:
        return ""
    return out.decode(errors="replace") if isinstance(out, bytes) else out
