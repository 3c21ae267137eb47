"""Chat without a model: formats in the sandbox, editing and regenerating, conversations in SQLite."""

import json

import pytest

from workbench.chat import session
from workbench.chat.conversation import ChatMessage, ChatSettings, Conversation
from workbench.engine.base import SamplingParams, TokenStep, TopToken
from workbench.errors import InputError, TemplateError
from workbench.library.chat_formats import BUILTIN_FORMATS, compile_template
from workbench.store import Store

TURNS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Capital of France?"},
]


def test_builtin_formats_render_every_turn_and_open_the_answer():
    chatml = compile_template(BUILTIN_FORMATS["chatml"].template)(TURNS, True)
    assert chatml.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    assert chatml.endswith("<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n")
    gemma = compile_template(BUILTIN_FORMATS["gemma"].template, bos="<bos>")(TURNS, True)
    # Gemma has no system role: the system prompt opens the first user turn; the assistant is "model"
    assert gemma.startswith("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!")
    assert gemma.endswith("<start_of_turn>model\n")
    plain = compile_template(BUILTIN_FORMATS["plain"].template)(TURNS, True)
    assert plain == "System: Be brief.\nUser: Hi\nAssistant: Hello!\nUser: Capital of France?\nAssistant:"
    assert not compile_template(BUILTIN_FORMATS["plain"].template)(TURNS, False).endswith("Assistant:")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for m in messages %}{{ m.content }", "does not parse"),
        ("{{ messages.__class__.__mro__ }}", "sandbox refuses"),
        ("{{ raise_exception('only user and assistant roles') }}", "refused the messages: only user and assistant"),
        ("{% for m in messages %}{{ m.content + 1 }}{% endfor %}", "failed on these messages"),
    ],
)
def test_bad_chat_templates_are_clear_template_errors(source, message):
    with pytest.raises(TemplateError, match=message):
        compile_template(source)(TURNS, True)


def _conversation(*messages: ChatMessage) -> Conversation:
    return Conversation("t", "m", "/m.gguf", "Be brief.", "chatml", ChatSettings(), tuple(messages))


def test_empty_message_and_unanswered_message_are_refused():
    with pytest.raises(InputError, match="the message is empty"):
        session.add_user_message(_conversation(), "   \n")
    waiting = session.add_user_message(_conversation(), "Hi")
    assert waiting.name == "t"
    with pytest.raises(InputError, match="has no answer yet"):
        session.add_user_message(waiting, "again")


def test_a_new_chat_is_named_by_its_first_message():
    fresh = Conversation("New chat", "m", "/m.gguf")
    assert session.add_user_message(fresh, "What is a token?\nsecond line").name == "What is a token?"


def test_editing_a_turn_cuts_everything_after_it():
    history = _conversation(
        ChatMessage("user", "one"),
        ChatMessage("assistant", "1"),
        ChatMessage("user", "two"),
        ChatMessage("assistant", "2"),
    )
    edited = session.edit_user_message(history, 0, "uno")
    assert [m.content for m in edited.messages] == ["uno"]
    with pytest.raises(InputError, match="only your messages can be edited"):
        session.edit_user_message(history, 1, "x")
    with pytest.raises(InputError, match="no message 9"):
        session.edit_user_message(history, 9, "x")
    assert [m.content for m in session.without_last_answer(history).messages] == ["one", "1", "two"]


def test_the_preview_shows_the_draft_as_the_next_user_turn():
    history = _conversation(ChatMessage("user", "one"), ChatMessage("assistant", "1"))
    assert session.next_turn_preview(history, "draft").messages[-1] == ChatMessage("user", "draft")
    assert [m.content for m in session.next_turn_preview(history, "new", editing=0).messages] == ["new"]


def _step(token_id: int, text: str) -> TokenStep:
    alternative = TopToken(token_id, text, text.encode(), -0.1, -0.1)
    return TokenStep(token_id, text.encode(), text, -0.1, -0.1, (alternative,), (alternative,), 1)


def test_conversations_round_trip_through_sqlite_with_their_tokens(tmp_path):
    store = Store(tmp_path / "chat.sqlite")
    answer = ChatMessage("assistant", "Paris.", (_step(5, "Paris"), _step(6, ".")), 42, "stop")
    conversation = _conversation(ChatMessage("user", "Capital of France?"), answer)
    conversation = Conversation(**{**conversation.__dict__, "settings": ChatSettings(SamplingParams(0.3), 64)})
    saved = session.save(store, conversation)
    loaded = session.load(store, saved.id)
    assert loaded == saved
    assert loaded.messages[1].tokens[0].top[0].text == "Paris"
    cut = session.save(store, session.edit_user_message(loaded, 0, "Capital of Italy?"))
    assert [m.content for m in session.load(store, cut.id).messages] == ["Capital of Italy?"]
    store.rename_conversation(cut.id, "  Capitals ")
    assert store.list_conversations()[0]["name"] == "Capitals"
    with pytest.raises(InputError, match="cannot be empty"):
        store.rename_conversation(cut.id, " ")
    store.delete_conversation(cut.id)
    assert store.list_conversations() == []
    with pytest.raises(InputError, match="no conversation with id"):
        session.load(store, cut.id)


def test_export_writes_one_conversation_per_jsonl_line(tmp_path):
    first = _conversation(ChatMessage("user", "a"), ChatMessage("assistant", "b"))
    second = _conversation(ChatMessage("user", "台湾最高的山是哪座?"))
    path = tmp_path / "chats.jsonl"
    assert session.export_jsonl([first, second], path) == 2
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    assert lines[1]["messages"][1]["content"] == "台湾最高的山是哪座?"
    with pytest.raises(InputError, match="no conversations"):
        session.export_jsonl([], tmp_path / "none.jsonl")
    assert not (tmp_path / "none.jsonl").exists()


def test_model_preferences_link_default_and_load_settings(tmp_path):
    from workbench.store.model_prefs import read_prefs

    path = tmp_path / "prefs.sqlite"
    assert read_prefs(path) == {}
    store = Store(path)
    store.link_model("/a.gguf")
    store.set_default_model("/a.gguf")
    store.set_default_model("/b.gguf")
    store.set_load_settings("/b.gguf", {"n_ctx": 1024})
    prefs = read_prefs(path)
    assert prefs["/a.gguf"].linked and not prefs["/a.gguf"].is_default
    assert prefs["/b.gguf"].is_default and prefs["/b.gguf"].load == {"n_ctx": 1024}
    store.set_default_model(None)
    store.forget_model("/a.gguf")
    prefs = read_prefs(path)
    assert "/a.gguf" not in prefs and not prefs["/b.gguf"].is_default
