"""The planted-item test: a user's validation and test items never reach a user text or prompt.

Every user's last two interactions are unique films whose title holds a word found nowhere else
and whose genre (Documentary) no training film has. If any user-side path read past the training
prefix, that word or genre would show up in the prompt or in the output.
"""

from __future__ import annotations

import numpy as np

from ur4rec.config import TextsConfig
from ur4rec.text.generate import generate_texts
from ur4rec.text.history import training_interactions
from ur4rec.text.io import USER_FILE, read_texts_file
from ur4rec.text.openai_backend import OpenAIBackend
from ur4rec.text.prompting import user_requests
from ur4rec.text.template import build_material, template_texts

from .conftest import PLANTED
from .fake_openai import FakeBehaviour, FakeOpenAIServer


def _planted_items(data) -> set[int]:
    return set(data.items.loc[data.items["title"].str.contains(PLANTED), "item_idx"])


def test_the_fixture_really_plants_the_held_out_items(planted):
    held_out = {int(i) for seq in planted.sequences for i in seq[-2:]}
    assert held_out == _planted_items(planted)
    assert not any(set(seq.tolist()) & held_out for seq in planted.train_sequences)


def test_training_interactions_are_exactly_the_training_prefix(planted):
    train = training_interactions(planted)
    assert not set(train["item_idx"]) & _planted_items(planted)
    assert len(train) == sum(len(s) for s in planted.train_sequences)


def test_template_user_texts_never_mention_held_out_items(planted):
    users, items = template_texts(planted)
    assert all(PLANTED not in text and "documentary" not in text.lower() for text in users)
    # the planted films do have item texts (describing a film is not leakage) ...
    assert sum(PLANTED in text for text in items) == len(_planted_items(planted))
    # ... but no other film's text points at them (item statistics are training-only)
    assert all(text.count(PLANTED) <= 1 for text in items)


def test_user_prompts_never_mention_held_out_items(planted):
    material = build_material(planted)
    for history_items in (1, 5, 1000):
        for request in user_requests(planted, material, history_items):
            assert PLANTED not in request.prompt
            assert "documentary" not in request.prompt.lower()


def test_llm_user_texts_never_mention_held_out_items(planted, tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    with FakeOpenAIServer(FakeBehaviour(echo=True)) as server:
        backend = OpenAIBackend(server.base_url, "fake", "key", concurrency=4)
        result = generate_texts(planted, "openai", TextsConfig(history_items_in_prompt=1000),
                                tmp_path / "out", llm=backend, progress=False)
        user_prompts = [p for p in server.stats.prompts if p.startswith("A viewer")]
    assert len(user_prompts) == planted.num_users
    assert not any(PLANTED in p for p in user_prompts)
    texts = read_texts_file(tmp_path / "out" / USER_FILE)
    assert len(texts) == planted.num_users and not any(PLANTED in t for t in texts.values())
    assert result.provenance["user_history"] == "training"
    # the echo proves the test would catch a leak: training titles do come back
    first_train = planted.train_sequences[0][-1]
    title = build_material(planted).catalog.titles[first_train]
    assert title in texts[str(planted.user_ids[0])]
    assert np.all([t.startswith("[fake reply") for t in texts.values()])
