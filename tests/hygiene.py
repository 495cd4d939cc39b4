"""A test run leaves no process and no temporary secret behind (hooks imported by tests/conftest.py).

The pytest process that runs the session (the only one, or xdist's controller) puts ``STEWARD_TEST_RUN=<its pid>``
in the environment that every worker, subprocess and grandchild inherits, and points TMPDIR inside pytest's own
tmp folder (so ``steward demo``'s ``steward-demo-*`` homes, which hold a master key, land there). SIGTERM (and
SIGINT, even where the shell started the run ignoring it) raises KeyboardInterrupt, so ``kill`` unwinds fixtures
like Ctrl-C. When the session ends, for any reason, that process waits a few seconds for the run's processes to
exit, then kills what is left (whole process groups), deletes ``steward-demo-*`` folders, and fails the run naming
each of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MARK = "STEWARD_TEST_RUN"
GRACE_SECONDS = 5.0


@pytest.hookimpl(trylast=True)  # after pytest's tmp_path plugin has configured its factory
def pytest_configure(config: pytest.Config) -> None:
    if threading_is_main():
        # `kill <pytest>` tears down like Ctrl-C, and so does SIGINT in a run started in the background by a
        # shell without job control (which starts it with SIGINT ignored, and every child would inherit that).
        # A Python handler is reset to the default on exec, so children get their own default Ctrl-C back.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.default_int_handler)
    if MARK in os.environ:  # an xdist worker (or a nested pytest): the controller owns the sweep
        return
    os.environ[MARK] = str(os.getpid())
    factory = getattr(config, "_tmp_path_factory", None)
    base = factory.getbasetemp() if factory is not None else Path(tempfile.mkdtemp(prefix="steward-tests-"))
    tmp = base / "tmp"
    tmp.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None  # recomputed from TMPDIR on next use
    config.stash[_TMP] = tmp


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


_TMP = pytest.StashKey[Path]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    result = yield  # xdist has stopped its workers, session fixtures are torn down
    if os.environ.get(MARK) != str(os.getpid()):
        return result
    leaks = [f"process {pid}: {cmd}" for pid, cmd in sweep_processes(os.getpid())]
    tmp = session.config.stash.get(_TMP, None)
    for folder in sorted(tmp.glob("steward-demo-*")) if tmp is not None else []:
        leaks.append(f"folder {folder} (a demo home with a master key)")
        shutil.rmtree(folder, ignore_errors=True)
    if leaks:
        lines = ["", "!" * 30 + " the run left these behind (now killed / removed) " + "!" * 30, *leaks]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for line in lines:
            if reporter is not None:
                reporter.write_line(line, red=True, bold=True)
            else:
                print(line)
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


def run_processes(owner: int) -> dict[int, str]:
    """Live processes whose environment carries this run's mark (pid -> command line), other than ``owner``."""
    needle = f"{MARK}={owner}".encode()
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == owner:
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
            if needle not in environ.split(b"\0"):
                continue
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":  # a zombie whose parent has not reaped it yet: it is dead already
                continue
            found[int(entry.name)] = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def sweep_processes(owner: int) -> list[tuple[int, str]]:
    """Wait up to GRACE_SECONDS for the run's processes to end by themselves; kill (SIGKILL) the rest."""
    deadline = time.monotonic() + GRACE_SECONDS
    left = run_processes(owner)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = run_processes(owner)
    own_group = os.getpgid(0)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group != own_group:  # its own group (started with start_new_session): take the whole group
                os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
    return sorted(left.items())
