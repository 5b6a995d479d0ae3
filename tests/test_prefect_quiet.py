"""Quiet by default (issue #9): wherever ecm starts Prefect, in a terminal, on a fresh
PREFECT_HOME, nothing prints Prefect's usage-data notice (shown once, on the first
`import prefect` in a terminal, unless DO_NOT_TRACK is set); and a run's plain log names
the warehouse by its full path.

Each command runs in a pseudo-terminal (the notice is shown only to a terminal) with an
environment that says nothing of analytics and no CI variable (Prefect keeps quiet in CI
by itself, which would hide the defect there)."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

NOTICE = "anonymous usage data"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _bare_env(home: Path) -> dict[str, str]:
    """This environment without any analytics setting, CI variable or Prefect API."""
    from prefect._internal.analytics.ci_detection import CI_ENV_VARS

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CI_ENV_VARS
        and k not in {"DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_API_URL"}
    }
    env.update(PREFECT_HOME=str(home), COLUMNS="250")
    return env


class _Terminal:
    """A command whose stdin, stdout and stderr are a pseudo-terminal, in its own session
    (a Ctrl-C there reaches its process group, as from a shell)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:  # EIO: every end of the terminal is closed
                break
            if not data:
                break
            self._chunks.append(data)

    @property
    def text(self) -> str:
        return ANSI.sub("", b"".join(self._chunks).decode(errors="replace"))

    def wait_for(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.text:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} in:\n{self.text[-3000:]}")
            time.sleep(0.2)

    def interrupt(self) -> None:
        """Ctrl-C."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)

    def finish(self, timeout: float) -> int:
        """Wait for the command to end (then kill what is left of its group)."""
        try:
            return self.process.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self._reader.join(timeout=5)


def _ecm(*args) -> list[str]:
    return [sys.executable, "-m", "ecm.cli", *map(str, args)]


@pytest.mark.flow
def test_a_run_in_a_terminal_prints_no_usage_notice_and_names_the_warehouse(tmp_path):
    from tests.story import AS_OF, write_story

    write_story(tmp_path / "feeds")
    home = tmp_path / "fresh-prefect-home"
    run = _Terminal(
        _ecm("run", "--input", "feeds", "--as-of", AS_OF, "--out", "out/2026-10"),
        _bare_env(home),
        cwd=tmp_path,
    )
    code = run.finish(timeout=300)
    assert code == 0, run.text[-3000:]
    assert NOTICE not in run.text
    assert "wrote" in run.text  # the run's log reached the terminal
    # the relative --out's warehouse, named by its full path
    warehouse = (tmp_path / "out" / "warehouse.duckdb").resolve()
    assert f"warehouse {warehouse}" in run.text
    assert home.is_dir()  # Prefect did start on this fresh home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.flow
def test_ecm_serve_in_a_terminal_is_quiet_and_ctrl_c_stops_it_and_its_server(tmp_path):
    """`ecm serve` starts its own Prefect server (fresh home, free port), serves, prints
    no usage-data notice (nor does the server, in its log); Ctrl-C stops both."""
    home = tmp_path / "fresh-prefect-home"
    port = _free_port()
    serving = _Terminal(_ecm("serve", "--port", port), _bare_env(home), cwd=tmp_path)
    try:
        serving.wait_for("Serving ecm-scheduled-monthly/ecm-monthly", timeout=180)
        assert _listening(port)
        assert f"Prefect server: http://127.0.0.1:{port}/api" in serving.text
    finally:
        serving.interrupt()
        code = serving.finish(timeout=60)
    assert code == 0, serving.text[-3000:]
    assert "Stopped." in serving.text
    assert NOTICE not in serving.text
    server_log = (home / "server.log").read_text()
    assert NOTICE not in server_log
    assert not _listening(port)  # the server stopped with it
