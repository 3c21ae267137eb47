"""`python` assertions: a function in a file the user names (promptfoo's `file://scorer.py:get_assert`), run in
a separate Python process with a time and a memory limit, so a scorer that raises, hangs, floods its output
or exits is that cell's scorer error and the grid goes on. The function gets `(output, context)` and returns
a bool, a number in 0..1, or {"pass": bool, "score": float, "reason": str}."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.library.assertions import Assertion, AssertionResult
from workbench.scoring.checks import CellContext, CheckError

TIME_LIMIT_S = 10.0
MEMORY_LIMIT_BYTES = 1 << 30
OUTPUT_LIMIT = 1 << 20
MARK = "\x1eworkbench-result\x1e"

RUNNER = r"""
import importlib.util, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (__LIMIT__, __LIMIT__))
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
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", runner, str(file), name],
            input=json.dumps({"output": ctx.output, "context": context}, default=str),
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        raise CheckError(f"{file.name}:{name} ran longer than {TIME_LIMIT_S:g} s and was stopped") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise CheckError(f"{file.name}:{name} failed: {last[:300]}")
    found = done.stdout[-OUTPUT_LIMIT:].rpartition(MARK)[2].strip()
    try:
        value = json.loads(found)
    except ValueError:
        raise CheckError(f"{file.name}:{name} returned nothing readable") from None
    return _result(assertion, value, f"{file.name}:{name}")


def _result(assertion: Assertion, value: Any, where: str) -> AssertionResult:
    reason = ""
    if isinstance(value, dict):
        reason = str(value.get("reason", ""))
        score = value.get("score", None if "pass" in value else value)
        passed = value.get("pass")
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
