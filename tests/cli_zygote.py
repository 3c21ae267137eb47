"""`workbench` commands for the tests, each in a process of its own forked from one that has already imported
the workbench and its libraries. Every command still gets a fresh process — its own exit status, stdin,
stdout and stderr, its memory freed when it ends, nothing shared with the next — without paying Python's
start-up and imports (0.7 s of each of a few hundred commands) again. Where fork is unavailable the tests
start `python -m workbench` instead (conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ZYGOTE = r"""
import io, json, os, sys, traceback
import jinja2, llama_cpp, numpy, sqlite_utils, tiktoken, yaml  # the slow imports, once
import workbench.cli.main

def run(request):
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, flags in ((0, request["stdin"], os.O_RDONLY),
                                (1, request["stdout"], os.O_WRONLY | os.O_TRUNC),
                                (2, request["stderr"], os.O_WRONLY | os.O_TRUNC)):
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        sys.argv = ["workbench", *request["args"]]
        code = workbench.cli.main.main(request["args"])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code if isinstance(code, int) else 1)

requests = os.fdopen(int(sys.argv[1]), "r")
replies = os.fdopen(int(sys.argv[2]), "w")
for line in requests:
    pid = os.fork()
    if pid == 0:
        run(json.loads(line))
    replies.write(json.dumps({"pid": pid}) + "\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
    replies.flush()
"""


def _kill(pid: int, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ProcessLookupError):  # it ended just now
        os.kill(pid, signal.SIGKILL)


class Zygote:
    """One pre-imported Python that forks a child per command."""

    def __init__(self, root: Path) -> None:
        to_zygote, self._requests = os.pipe()
        self._replies, from_zygote = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(to_zygote), str(from_zygote)],
            pass_fds=(to_zygote, from_zygote),
            cwd=root,
        )
        os.close(to_zygote)
        os.close(from_zygote)
        self.requests = os.fdopen(self._requests, "w")
        self.replies = os.fdopen(self._replies, "r")
        self.lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="cli-zygote-"))

    def run(self, args: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None, timeout: float):
        """(exit status, stdout bytes, stderr bytes); subprocess.TimeoutExpired after `timeout` seconds."""
        with self.lock:
            paths = {name: self.folder / name for name in ("stdin", "stdout", "stderr")}
            paths["stdin"].write_bytes(stdin or b"")
            for name in ("stdout", "stderr"):
                paths[name].write_bytes(b"")
            request = {"args": args, "env": env, "cwd": str(cwd), **{k: str(v) for k, v in paths.items()}}
            self.requests.write(json.dumps(request) + "\n")
            self.requests.flush()
            pid = json.loads(self.replies.readline())["pid"]
            expired = threading.Event()
            timer = threading.Timer(timeout, _kill, (pid, expired))
            timer.start()
            try:
                code = json.loads(self.replies.readline())["code"]
            finally:
                timer.cancel()
            if expired.is_set():
                raise subprocess.TimeoutExpired(["workbench", *args], timeout)
            return code, paths["stdout"].read_bytes(), paths["stderr"].read_bytes()

    def close(self) -> None:
        self.requests.close()
        self.process.wait(timeout=30)
        self.replies.close()
