"""Chat on the two embedded models: the prompt equals llama-cpp-python's rendering of the same template,
special tokens are single tokens, overflow drops the oldest turns visibly, the CLI keeps conversations."""

import json

import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from workbench import models
from workbench.chat import session
from workbench.chat.conversation import ChatMessage, ChatRenderer, ChatSettings, Conversation
from workbench.errors import ContextOverflowError
from workbench.library.chat_formats import BUILTIN_FORMATS, MODEL_FORMAT
from workbench.text import tokenizers

SMOL = models.INSTRUCT_MODEL_NAME
GEMMA = models.DEFAULT_MODEL_NAME
THREE_TURNS = (
    ChatMessage("user", "Hello! Who are you?"),
    ChatMessage("assistant", "I am a small assistant."),
    ChatMessage("user", "What is the capital of France?"),
    ChatMessage("assistant", "Paris."),
    ChatMessage("user", "台湾最高的山是哪座?"),
)


def _conversation(info, chat_format: str, messages=THREE_TURNS, max_tokens: int = 64) -> Conversation:
    return Conversation(
        "t", info.name, info.path, "You are brief and kind.", chat_format, ChatSettings(max_tokens=max_tokens), messages
    )


def _independent_ids(info, template: str, conversation: Conversation) -> list[int]:
    """llama-cpp-python's formatter on the same template, tokenized the way its chat handler does."""
    tokenizer = tokenizers.get_tokenizer(info.path)
    bos = tokenizer.token_bytes(info.bos_token_id).decode()
    eos = tokenizer.token_bytes(info.eos_token_id).decode()
    text = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(messages=conversation.turns()).prompt
    add_bos = info.add_bos and not text.startswith(bos)  # its handler: BOS once, from the text or the tokenizer
    return tokenizer.encode(text, special=True, bos=add_bos)


def test_the_instruct_model_prompt_is_its_gguf_template_rendered_independently():
    info = models.resolve(SMOL)
    assert info.has_chat_template and not info.add_bos and info.vocab_size == 49_152
    conversation = _conversation(info, MODEL_FORMAT)
    prompt = ChatRenderer(info).prompt(conversation, n_ctx=4096)
    assert prompt.notice == ""
    assert list(prompt.ids) == _independent_ids(info, models.chat_template(info), conversation)
    tokenizer = tokenizers.get_tokenizer(info.path)
    start, end = (tokenizer.encode(marker, special=True) for marker in ("<|im_start|>", "<|im_end|>"))
    assert len(start) == len(end) == 1  # special tokens are single tokens in the prompt
    assert prompt.ids.count(start[0]) == 7  # system + 5 messages + the assistant's opening
    assert prompt.ids.count(end[0]) == 6


def test_the_base_model_gets_a_builtin_format_with_a_visible_notice():
    info = models.resolve(GEMMA)
    assert not info.has_chat_template
    conversation = _conversation(info, MODEL_FORMAT)
    prompt = ChatRenderer(info).prompt(conversation, n_ctx=4096)
    assert prompt.format_name == "gemma"
    assert "never trained on" in prompt.notice
    assert list(prompt.ids) == _independent_ids(info, BUILTIN_FORMATS["gemma"].template, conversation)
    assert prompt.ids[0] == info.bos_token_id and prompt.ids.count(info.bos_token_id) == 1
    turn = tokenizers.get_tokenizer(info.path).encode("<start_of_turn>", special=True)
    # five messages and the opening of the answer; the system prompt has no turn of its own (it joins the first)
    assert len(turn) == 1 and prompt.ids.count(turn[0]) == 6


def test_turn_counts_add_up_to_the_prompt():
    info = models.resolve(SMOL)
    prompt = ChatRenderer(info).prompt(_conversation(info, MODEL_FORMAT), n_ctx=4096)
    assert [t.role for t in prompt.turns] == ["system", "user", "assistant", "user", "assistant", "user"]
    opening = len(tokenizers.get_tokenizer(info.path).encode("<|im_start|>assistant\n", special=True))
    assert sum(t.tokens for t in prompt.turns) + opening == prompt.used


def test_history_overflow_drops_the_oldest_turns_visibly():
    info = models.resolve(SMOL)
    pairs = [
        ChatMessage(role, f"{role} message {i}: " + "words " * 40) for i in range(10) for role in ("user", "assistant")
    ]
    long_history = (*pairs, ChatMessage("user", "The last question?"))
    conversation = _conversation(info, MODEL_FORMAT, long_history, max_tokens=64)
    prompt = ChatRenderer(info).prompt(conversation, n_ctx=512)
    assert prompt.dropped and prompt.dropped == tuple(range(len(prompt.dropped)))
    assert prompt.used + prompt.reserve <= 512
    assert "You are brief and kind." in prompt.text and "The last question?" in prompt.text
    assert "user message 0:" not in prompt.text and "user message 9:" in prompt.text
    dropped_flags = [t.dropped for t in prompt.turns[1:]]
    assert dropped_flags == [i in prompt.dropped for i in range(len(long_history))]
    kept_first = long_history[len(prompt.dropped)]
    assert kept_first.role == "user"  # the history after the system prompt still opens with a question


def test_a_last_message_longer_than_the_context_is_a_clear_error():
    info = models.resolve(SMOL)
    conversation = _conversation(info, MODEL_FORMAT, (ChatMessage("user", "word " * 600),), max_tokens=32)
    with pytest.raises(ContextOverflowError, match="do not fit the context of 256"):
        ChatRenderer(info).prompt(conversation, n_ctx=256)


def test_a_failing_gguf_template_falls_back_with_a_notice(monkeypatch):
    info = models.resolve(SMOL)
    monkeypatch.setattr(models, "chat_template", lambda _info: "{{ raise_exception('no system role') }}")
    prompt = ChatRenderer(info).prompt(_conversation(info, MODEL_FORMAT), n_ctx=4096)
    assert prompt.format_name == "plain"
    assert "refused the messages: no system role" in prompt.notice and "instead" in prompt.notice


def test_a_gguf_template_with_unsupported_jinja_falls_back_with_a_notice(monkeypatch):
    info = models.resolve(SMOL)
    # Hugging Face's `{% generation %}` tag is an extension llama.cpp's and Jinja's renderers do not know
    unsupported = "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"
    monkeypatch.setattr(models, "chat_template", lambda _info: unsupported)
    prompt = ChatRenderer(info).prompt(_conversation(info, MODEL_FORMAT), n_ctx=4096)
    assert prompt.format_name == "plain" and "does not parse" in prompt.notice
    assert prompt.text.endswith("User: 台湾最高的山是哪座?\nAssistant:")


def test_reply_streams_tokens_and_appends_the_answer(backend):
    info = backend.info
    conversation = _conversation(info, "gemma", (ChatMessage("user", "Say hi."),), max_tokens=8)
    conversation = Conversation(**{**conversation.__dict__, "settings": ChatSettings(max_tokens=8)})
    streamed = []
    answered, prompt, generation = session.reply(
        backend, conversation, ChatRenderer(info, "gemma"), backend.n_ctx, streamed.append
    )
    assert [s.id for s in streamed] == [s.id for s in generation.tokens]
    assert answered.messages[-1].role == "assistant" and answered.messages[-1].tokens == generation.tokens
    assert generation.timings.prompt_tokens == prompt.used


def test_cli_chat_send_edit_regenerate_show_export(cli, tmp_path):
    first = cli(
        "chat",
        "send",
        "-m",
        SMOL,
        "--system",
        "Answer in one word.",
        "--message",
        "Capital of France?",
        "-t",
        "0",
        "-n",
        "8",
        "--json",
    )
    assert first.code == 0, first.stderr
    reply = first.json()
    conversation_id = reply["conversation"]
    assert reply["answer"]["role"] == "assistant" and reply["answer"]["tokens"]
    assert reply["prompt"]["prompt"].startswith("<|im_start|>system\nAnswer in one word.<|im_end|>")
    second = cli("chat", "send", str(conversation_id), "--message", "And of Italy?", "--json")
    assert second.code == 0, second.stderr
    shown = cli("chat", "show", str(conversation_id), "--json").json()
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user", "assistant"]
    edited = cli("chat", "edit", str(conversation_id), "--turn", "0", "--message", "Capital of Spain?", "--json")
    assert edited.code == 0, edited.stderr
    shown = cli("chat", "show", str(conversation_id), "--json").json()
    assert shown["messages"][0]["content"] == "Capital of Spain?" and len(shown["messages"]) == 2
    again = cli("chat", "regenerate", str(conversation_id), "--json")
    assert again.code == 0 and len(cli("chat", "show", str(conversation_id), "--json").json()["messages"]) == 2
    draft = cli("chat", "prompt", str(conversation_id), "--message", "One more?", "--json").json()
    assert draft["prompt"].endswith("<|im_start|>user\nOne more?<|im_end|>\n<|im_start|>assistant\n")
    assert [t["role"] for t in draft["turns"]] == ["system", "user", "assistant", "user"]
    out = tmp_path / "chats.jsonl"
    assert cli("chat", "export", "--out", str(out)).code == 0
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert exported[0]["messages"][1] == {"role": "user", "content": "Capital of Spain?"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chat", "send", "--message", "  "), "the message is empty"),
        (("chat", "show", "99"), "no conversation with id 99"),
        (("chat", "edit", "99", "--turn", "0", "--message", "x"), "no conversation with id 99"),
        (("chat", "send", "--message", "hi", "--format", "klingon"), "invalid choice"),
    ],
)
def test_cli_chat_bad_input_is_one_line(cli, args, message):
    result = cli(*args)
    assert result.code != 0 and message in result.stderr and "Traceback" not in result.stderr
