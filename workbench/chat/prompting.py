"""How a template becomes the prompt a model sees, counted the way the engine will tokenize it.

One rule for the Templates preview, `workbench templates render` and a comparison's cells: a chat
template goes through the model's own chat format (GGUF `tokenizer.chat_template`, else a plain
transcript) and its control tokens are parsed as such; every prompt gets the model's BOS when the
model asks for one (`tokenizer.ggml.add_bos_token`); the count is the model's tokenizer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench import models
from workbench.errors import TemplateError
from workbench.library.templates import ChatFormat, Template, render
from workbench.text import tokenizers


@dataclass(frozen=True)
class ModelPrompt:
    """A rendered template for one model: the text, how the engine tokenizes it, and its size."""

    template: str
    version: int
    model: str
    text: str
    messages: tuple[dict[str, str], ...]
    add_bos: bool
    special: bool  # control tokens in the text are parsed (chat formats)
    tokens: int | None  # None: not counted
    n_ctx: int | None = None

    @property
    def fits(self) -> bool:
        """Room is left for at least one generated token."""
        return self.tokens is None or self.n_ctx is None or self.tokens < self.n_ctx

    def check_fits(self) -> ModelPrompt:
        if not self.fits:
            raise TemplateError(
                f"template {self.template} renders to {self.tokens:,} tokens for {self.model}, more than the "
                f"context of {self.n_ctx:,} (use fewer examples, a shorter case, or a larger context)"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "version": self.version,
            "model": self.model,
            "prompt": self.text,
            "messages": list(self.messages),
            "add_bos": self.add_bos,
            "special": self.special,
            "tokens": self.tokens,
            "n_ctx": self.n_ctx,
            "fits": self.fits,
        }


_renderers: dict[str, ChatFormat] = {}


def chat_format_for(info: models.ModelInfo) -> ChatFormat:
    """The model's chat template when its GGUF has one, else the plain transcript: the Chat tab's renderer,
    so a chat template in the library and a conversation become the same text. One per model file: a grid
    renders every cell, and compiling the template each time would be work done again."""
    from workbench.chat.conversation import ChatRenderer
    from workbench.library.chat_formats import MODEL_FORMAT

    if info.source == "remote":  # the server's template is not ours to read: the plain transcript
        from workbench.library.chat_formats import BUILTIN_FORMATS, compile_template

        plain = compile_template(BUILTIN_FORMATS["plain"].template)
        return _renderers.setdefault(
            info.path, lambda turns, add_generation_prompt=True: plain(turns, add_generation_prompt)
        )
    if info.path not in _renderers:
        renderer = ChatRenderer(info, MODEL_FORMAT if info.has_chat_template else "plain")
        _renderers[info.path] = renderer.render
    return _renderers[info.path]


def uses_special_tokens(template: Template) -> bool:
    return template.kind == "chat"


def prompt_for_model(
    template: Template,
    variables: dict[str, Any],
    info: models.ModelInfo,
    k: int | None = None,
    n_ctx: int | None = None,
    count: bool = True,
) -> ModelPrompt:
    """Render `template` for the model `info` and (with `count`) count its tokens with the model's
    tokenizer, BOS and control tokens as the engine will see them. TemplateError on a bad render."""
    rendered = render(template, variables, k=k, chat_format=chat_format_for(info))
    special = uses_special_tokens(template)
    tokens = None
    if count:
        tokenizer = tokenizers.get_tokenizer(info.path)
        tokens = len(tokenizer.encode(rendered.text, special=special, bos=info.add_bos))
    return ModelPrompt(
        template.name,
        template.version,
        info.name,
        rendered.text,
        rendered.messages,
        info.add_bos,
        special,
        tokens,
        n_ctx,
    )
