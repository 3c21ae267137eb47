"""Jinja's sandbox with limits a shared template cannot get past: a render time limit and an output size limit.

The sandbox already refuses unsafe attributes and ranges over 100,000. Here every function call, filter and
`*`, `**`, `+` on text or lists checks the clock and the size it would build, and the output is gathered chunk
by chunk, so a loop that never ends, a string of a gigabyte or runaway recursion end in one TemplateError a user
can read (with the limit's value) instead of a frozen or exhausted app.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workbench.errors import TemplateError

RENDER_SECONDS = 2.0
MAX_OUTPUT_CHARS = 1_000_000
MAX_EXPONENT = 10_000

_deadline = threading.local()


def _over_time() -> None:
    limit = getattr(_deadline, "at", None)
    if limit is not None and time.monotonic() > limit:
        raise TemplateError(f"the template took longer than {RENDER_SECONDS:g} s to render (a loop without end?)")


def _too_big(size: int) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise TemplateError(f"the template would build {size:,} characters, over the limit of {MAX_OUTPUT_CHARS:,}")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})

    def call(__self, __context, __obj, *args, **kwargs):
        _over_time()
        return super().call(__context, __obj, *args, **kwargs)

    def call_filter(self, *args, **kwargs):
        _over_time()
        return super().call_filter(*args, **kwargs)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _over_time()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if _length(sequence) is not None and isinstance(times, int):
                    _too_big(_length(sequence) * max(times, 0))
        elif operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise TemplateError(
                f"the template raises a number to the power {right}, over the limit of {MAX_EXPONENT:,}"
            )
        elif operator == "+" and _length(left) is not None and _length(right) is not None:
            _too_big(_length(left) + _length(right))
        return super().call_binop(context, operator, left, right)


def bounded_render(compiled: jinja2.Template, context: dict[str, Any]) -> str:
    """Render within RENDER_SECONDS and MAX_OUTPUT_CHARS; TemplateError past either, or on runaway recursion."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = time.monotonic() + RENDER_SECONDS
    try:
        pieces, size = [], 0
        for piece in compiled.generate(context):
            size += len(piece)
            _too_big(size)
            _over_time()
            pieces.append(piece)
        return "".join(pieces)
    except RecursionError:
        raise TemplateError("the template calls itself too deeply (recursion without end?)") from None
    except MemoryError:
        raise TemplateError(f"the template ran out of memory (limit {MAX_OUTPUT_CHARS:,} characters)") from None
    finally:
        _deadline.at = previous
