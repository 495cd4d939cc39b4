"""The process behind ``tests.cli.run_steward``: imports the CLI once, then runs each command as a forked child.

Run as a script (``python tests/cli_forkserver.py``). It reads one JSON request per line on stdin
(``args``, ``env``, ``cwd``, ``input``, ``timeout``), forks, and the child becomes ``steward ARGS`` exactly as
``python -m steward ARGS`` would be: its own pid, the given environment and working directory, stdin, stdout
and stderr on files, and its exit status from ``SystemExit``. The parent waits for it (killing it at the
timeout) and answers one JSON line: ``returncode``, ``stdout``, ``stderr``. Only the interpreter start-up and
the imports (about 1.2 s of CPU per command) are shared; nothing a command does survives it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

# Imported once, before any fork: this is the whole point.
from steward.cli.main import app


def _child(request: dict[str, Any], out: int, err: int, stdin: int) -> None:
    """Become the command (never returns)."""
    code: int = 1
    try:
        os.setpgid(0, 0)  # its own group, like a subprocess started with start_new_session
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.argv = ["steward", *request["args"]]
        try:
            app(args=request["args"], prog_name="steward")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.005)


def _run(request: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as stdin:
        stdin.write((request.get("input") or "").encode())
        stdin.seek(0)
        sys.stdout.flush()  # nothing buffered here may be written again by the child
        pid = os.fork()
        if pid == 0:
            _child(request, out.fileno(), err.fileno(), stdin.fileno())
        returncode = _wait(pid, float(request.get("timeout", 60)))
        out.seek(0)
        err.seek(0)
        return {"returncode": returncode, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def main() -> None:
    for line in sys.stdin:
        answer = _run(json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
