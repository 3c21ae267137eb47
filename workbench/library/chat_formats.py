"""Chat formats: how a list of messages becomes the one text a model continues.

A model with a chat template in its GGUF (`tokenizer.chat_template`) uses it, rendered in Jinja's
sandbox the way llama.cpp and llama-cpp-python do (`messages`, `add_generation_prompt`, `bos_token`,
`eos_token`, `raise_exception`, `strftime_now`). A model without one (the Gemma base model) gets a
built-in format; it was never trained on it, and the app says so. The built-in formats are Jinja
templates too, so every format takes the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import jinja2
from jinja2.sandbox import SecurityError

from workbench.errors import TemplateError
from workbench.library.bounded import BoundedSandbox, bounded_render

MODEL_FORMAT = "model"

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Gemma 3's own template (the instruction-tuned release): no system role, so a system prompt opens the first
# user turn; the assistant's role is "model".
GEMMA_TURNS = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + message['content'] | trim"
    " + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
PLAIN = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


@dataclass(frozen=True)
class BuiltinFormat:
    name: str
    label: str
    template: str
    stop: tuple[str, ...]  # the turn's end written as text (when the marker is not one special token)


BUILTIN_FORMATS = {
    "chatml": BuiltinFormat("chatml", "ChatML (<|im_start|> ... <|im_end|>)", CHATML, ("<|im_end|>",)),
    "gemma": BuiltinFormat("gemma", "Gemma turns (<start_of_turn> ... <end_of_turn>)", GEMMA_TURNS, ("<end_of_turn>",)),
    "plain": BuiltinFormat("plain", "plain transcript (User: / Assistant:)", PLAIN, ("\nUser:", "\nSystem:")),
}
FORMAT_NAMES = (MODEL_FORMAT, *BUILTIN_FORMATS)

Formatter = Callable[[list[dict[str, str]], bool], str]


def _raise_exception(message: str) -> None:
    raise TemplateError(f"the chat template refused the messages: {message}")


def _strftime_now(format_string: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.now().strftime(format_string)


def compile_template(source: str, bos: str = "", eos: str = "") -> Formatter:
    """A chat template as a function (messages, add_generation_prompt) -> text, in Jinja's sandbox.

    TemplateError when it does not parse, uses something the sandbox refuses, or fails on the messages."""
    env = BoundedSandbox(trim_blocks=True, lstrip_blocks=True)
    try:
        compiled = env.from_string(source)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"the chat template does not parse (line {err.lineno}): {err.message}") from None

    def render(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        try:
            context = {
                "messages": messages,
                "add_generation_prompt": add_generation_prompt,
                "bos_token": bos,
                "eos_token": eos,
                "raise_exception": _raise_exception,
                "strftime_now": _strftime_now,
            }
            return bounded_render(compiled, context)
        except TemplateError:
            raise
        except SecurityError as err:
            raise TemplateError(f"the chat template tried something the sandbox refuses: {err}") from None
        except jinja2.TemplateError as err:
            raise TemplateError(f"the chat template failed: {err}") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise TemplateError(f"the chat template failed on these messages: {type(err).__name__}: {err}") from None

    return render


def format_stop(name: str, eos_text: str) -> tuple[str, ...]:
    """Text stops for a format; the model's own format stops on its end-of-turn token (and its text)."""
    if name == MODEL_FORMAT:
        return (eos_text,) if eos_text else ()
    return BUILTIN_FORMATS[name].stop


def check_format(name: str) -> str:
    if name not in FORMAT_NAMES:
        raise TemplateError(f"unknown chat format '{name}' (one of: {', '.join(FORMAT_NAMES)})")
    return name
