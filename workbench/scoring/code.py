"""`python` assertions: a function in a file the user names (promptfoo's `file://scorer.py:get_assert`), run in
a separate Python process with a time and a memory limit, so a scorer that raises, hangs, floods its output
or exits is that cell's scorer error and the grid goes on. The function gets `(output, context)` and returns
a bool, a number in 0..1, or {"pass": bool, "score": float, "reason": str}."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from workbench.library.assertions import Assertion, AssertionResult
from workbench.scoring.checks import CellContext, CheckError

TIME_LIMIT_S = 10.0
MEMORY_LIMIT_BYTES = 1 << 30
OUTPUT_LIMIT = 1 << 20  # bytes of output (stdout, stderr) a scorer may write
MARK = "\x1eworkbench-result\x1e"

RUNNER = r"""
import importlib.util, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (__LIMIT__, __LIMIT__))
resource.setrlimit(resource.RLIMIT_FSIZE, (__OUTPUT__, __OUTPUT__))
path, name = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("user_scorer", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
request = json.loads(sys.stdin.read())
value = getattr(module, name)(request["output"], request["context"])
sys.stdout.write(__MARK__ + json.dumps(value, default=str) + "\n")
"""


def parse_target(value: Any) -> tuple[Path, str]:
    """`file://path/to/scorer.py[:function]` or a plain path; the function defaults to `get_assert`."""
    if not isinstance(value, str) or not value.strip():
        raise CheckError("python needs a file as its value: file://scorer.py or file://scorer.py:function")
    text = value.strip().removeprefix("file://")
    path, _, name = text.partition(".py:")
    path = path + ".py" if name or not path.endswith(".py") else path
    file = Path(path).expanduser()
    if not file.is_file():
        raise CheckError(f"python scorer file {file} does not exist")
    return file, name or "get_assert"


def run_python(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    file, name = parse_target(assertion.value)
    context = {"vars": ctx.case.vars, "prompt": ctx.prompt, "expected": ctx.case.expected, "case_id": ctx.case.id}
    runner = RUNNER.replace("__LIMIT__", str(MEMORY_LIMIT_BYTES)).replace("__MARK__", repr(MARK))
    runner = runner.replace("__OUTPUT__", str(OUTPUT_LIMIT))
    where = f"{file.name}:{name}"
    request = json.dumps({"output": ctx.output, "context": context}, default=str).encode()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # output goes to files the child may not grow past OUTPUT_LIMIT (RLIMIT_FSIZE), never into this process's
        # memory; its own session, so anything it starts is killed with it
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", runner, str(file), name],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            process.communicate(request, timeout=TIME_LIMIT_S)
        except subprocess.TimeoutExpired:
            raise CheckError(f"{where} ran longer than {TIME_LIMIT_S:g} s and was stopped") from None
        finally:
            _kill_group(process)
        stdout, stderr = (_read(f) for f in (out, err))
    if process.returncode == -signal.SIGXFSZ or "[Errno 27] File too large" in stderr:
        raise CheckError(f"{where} wrote more than {OUTPUT_LIMIT // 1024} KiB of output and was stopped")
    if process.returncode != 0:
        last = (stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
        raise CheckError(f"{where} failed: {last[:300]}")
    if MARK not in stdout:
        raise CheckError(f"{where} ended without returning a result")
    try:
        value = json.loads(stdout.rpartition(MARK)[2].strip())
    except ValueError:
        raise CheckError(f"{where} returned nothing readable") from None
    return _result(assertion, value, where)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read(handle) -> str:
    handle.seek(0)
    return handle.read(OUTPUT_LIMIT + 1).decode("utf-8", errors="replace")


def _result(assertion: Assertion, value: Any, where: str) -> AssertionResult:
    reason = ""
    if isinstance(value, dict):
        reason = str(value.get("reason", ""))
        score = value.get("score", None if "pass" in value else value)
        passed = value.get("pass")
        if passed is not None and not isinstance(passed, bool):
            raise CheckError(f"{where} returned pass={passed!r}: pass must be true or false")
        if score is None and isinstance(passed, bool):
            score = float(passed)
    elif isinstance(value, bool):
        score, passed = float(value), value
    else:
        score, passed = value, None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise CheckError(f"{where} returned {value!r}: a bool, a score in 0..1 or {{pass, score, reason}} is needed")
    if passed is None:
        threshold = assertion.effective_threshold()
        passed = score >= (threshold if threshold is not None else 0.5)
    return AssertionResult(
        assertion.label, "python", float(score), bool(passed), float(score), reason, weight=assertion.weight
    )
