"""Prompt files: shipped in the package, versioned, and part of every cache key."""

from __future__ import annotations

import pytest

from ur4rec.errors import UR4RecError
from ur4rec.text.prompting import (
    ITEM_PROMPT,
    USER_PROMPT,
    item_requests,
    load_prompt,
    parse_prompt,
    prompt_version,
    user_requests,
)
from ur4rec.text.template import build_material


def test_the_shipped_prompts_load_with_a_version():
    for name in (USER_PROMPT, ITEM_PROMPT):
        prompt = load_prompt(name)
        assert prompt.version == "1" and prompt.system and "$" in prompt.user
        assert prompt.key.startswith(f"{name}@1-")
    assert prompt_version() == f"{load_prompt(USER_PROMPT).key}+{load_prompt(ITEM_PROMPT).key}"


def test_editing_the_text_changes_the_key_even_without_a_version_bump():
    text = "# p, version 3\n[system]\nBe brief.\n[user]\nDescribe $title.\n"
    edited = text.replace("brief", "short")
    assert parse_prompt("p", text).key != parse_prompt("p", edited).key
    assert parse_prompt("p", text).key.startswith("p@3-")


def test_a_malformed_prompt_file_is_a_clear_error():
    with pytest.raises(UR4RecError, match="needs a '# ... version N' first line"):
        parse_prompt("p", "[system]\nx\n[user]\ny\n")


def test_requests_are_filled_from_training_history_and_item_facts(films):
    material = build_material(films)
    user = user_requests(films, material, history_items=3, users=[0])[0]
    assert user.key == "user:0" and user.prompt_version == load_prompt(USER_PROMPT).key
    assert user.prompt.count("\n- ") == 3 and "/5" in user.prompt  # 3 history lines
    assert "Statistics of all their ratings: 12 films" in user.prompt
    item = item_requests(films, material, items=[1])[0]
    assert "Film: Film Number 1 (1951)" in item.prompt
    assert "Genres: comedy, horror" in item.prompt
    assert "shares its director with Film Number 2 (1952)" in item.prompt
    assert "$" not in user.prompt + item.prompt


def test_item_prompts_without_item_statistics_name_no_co_liked_films(films):
    material = build_material(films)
    with_likes = [r.prompt for r in item_requests(films, material)]
    assert any("also liked" in prompt for prompt in with_likes)
    bare = item_requests(films, build_material(films, item_statistics=False),
                         item_statistics=False)
    assert not any("also liked" in r.prompt for r in bare)
    assert all(r.prompt.splitlines()[0] in w for r, w in zip(bare, with_likes, strict=True))
