"""Chat with a model on a server: the history goes to /v1/chat/completions as messages and the server applies
its model's chat template, so the workbench shows the messages it sends (the template is not ours to read),
drops no turn itself (the server refuses what does not fit) and counts no tokens."""

from __future__ import annotations

import json

from workbench import models
from workbench.chat.conversation import ChatPrompt, Conversation, TurnCount, check_ready

SERVER_FORMAT = "server"
SERVER_NOTICE = "the server applies its model's own chat template to these messages (/v1/chat/completions)"


class ServerChatRenderer:
    """ChatRenderer's counterpart for a model on a server (same methods, the server's side of the work)."""

    def __init__(self, info: models.ModelInfo) -> None:
        self.info = info

    def render(self, turns: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return json.dumps(turns, ensure_ascii=False, indent=1)

    def count(self, text: str) -> int:
        return 0  # the server's tokens are its own

    def stop(self) -> tuple[str, ...]:
        return ()

    def prompt(self, conversation: Conversation, n_ctx: int) -> ChatPrompt:
        reserve = check_ready(conversation, n_ctx)
        system = [TurnCount("system", None)] if conversation.system_prompt else []
        return ChatPrompt(
            text=self.render(conversation.turns()),
            ids=(),
            turns=tuple(system + [TurnCount(m.role, None) for m in conversation.messages]),
            dropped=(),
            n_ctx=n_ctx,
            reserve=reserve,
            format_name=SERVER_FORMAT,
            notice=SERVER_NOTICE,
            add_bos=True,
            stop=(),
        )


def renderer_for(info: models.ModelInfo, wanted_format: str):  # -> ChatRenderer | ServerChatRenderer
    """The renderer of a conversation with `info`: its chat template locally, the server's on a server."""
    if info.source == "remote":
        return ServerChatRenderer(info)
    from workbench.chat.conversation import ChatRenderer

    return ChatRenderer(info, wanted_format)
