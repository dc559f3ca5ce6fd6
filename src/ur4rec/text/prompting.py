"""Prompt files shipped in ``ur4rec/text/prompts/`` and the requests built from them.

A prompt file has a ``# ... version N`` comment header, a ``[system]`` and a ``[user]`` section;
``$name`` placeholders are filled with :class:`string.Template`. The prompt version used in cache
keys is ``name@N-<hash of the text>``, so editing a file never reuses answers to the old text.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from ur4rec.data.prepared import PreparedData
from ur4rec.errors import UR4RecError
from ur4rec.text.profiles import UserProfile
from ur4rec.text.template import (
    TextMaterial,
    co_liked_sentence,
    genre_words,
    join_words,
    knowledge_sentences,
)

USER_PROMPT = "user_preference"
ITEM_PROMPT = "item_description"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    user: str

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{self.system}\x1f{self.user}".encode()).hexdigest()[:8]
        return f"{self.name}@{self.version}-{digest}"


@dataclass(frozen=True)
class TextRequest:
    """One text to write: ``key`` is ``"user:<index>"`` or ``"item:<index>"``."""

    key: str
    system: str
    prompt: str
    prompt_version: str


def load_prompt(name: str) -> PromptTemplate:
    """Read ``prompts/<name>.txt`` from the installed package."""
    try:
        text = resources.files("ur4rec.text").joinpath("prompts", f"{name}.txt").read_text(
            encoding="utf-8")
    except FileNotFoundError:
        raise UR4RecError(f"prompt file prompts/{name}.txt is missing from the package") from None
    return parse_prompt(name, text)


def parse_prompt(name: str, text: str) -> PromptTemplate:
    """The sections and version of a prompt file's text."""
    version = re.search(r"version\s+(\w+)", text.split("\n", 1)[0])
    sections = re.split(r"^\[(system|user)\]\s*$", text, flags=re.MULTILINE)
    parts = {sections[i]: sections[i + 1].strip() for i in range(1, len(sections) - 1, 2)}
    if not version or set(parts) != {"system", "user"}:
        raise UR4RecError(f"prompt file prompts/{name}.txt needs a '# ... version N' first line "
                          "and one [system] and one [user] section")
    return PromptTemplate(name, version.group(1), parts["system"], parts["user"])


def prompt_version() -> str:
    """The version of both prompts together, e.g. ``user_preference@1-…+item_description@1-…``."""
    return f"{load_prompt(USER_PROMPT).key}+{load_prompt(ITEM_PROMPT).key}"


def _fill(template: PromptTemplate, **values: str) -> tuple[str, str]:
    try:
        return template.system, Template(template.user).substitute(values)
    except (KeyError, ValueError) as error:
        raise UR4RecError(f"prompt file prompts/{template.name}.txt has an unknown or malformed "
                          f"placeholder ({error}); use only {sorted(values)}") from None


def user_requests(data: PreparedData, material: TextMaterial, history_items: int,
                  users: list[int] | None = None) -> list[TextRequest]:
    """One request per user from their latest ``history_items`` *training* interactions."""
    template = load_prompt(USER_PROMPT)
    catalog = material.catalog
    out = []
    for user in users if users is not None else range(data.num_users):
        profile = material.profiles[user]
        lines = []
        for item, rating in profile.history[-history_items:]:
            genres = ", ".join(genre_words(catalog.genres[item])) or "unknown genres"
            stars = "" if math.isnan(rating) else f" — {rating:g}/5"
            lines.append(f"- {catalog.titles[item]} [{genres}]{stars}")
        system, prompt = _fill(template, history="\n".join(lines) or "- (no films yet)",
                               statistics=_statistics(profile))
        out.append(TextRequest(f"user:{user}", system, prompt, template.key))
    return out


def _statistics(profile: UserProfile) -> str:
    parts = [f"{profile.num_rated} films"]
    if not math.isnan(profile.mean_rating):
        parts.append(f"mean rating {profile.mean_rating:.1f}")
    if profile.top_genres:
        parts.append("favourite genres " + ", ".join(
            f"{genre_words([g])[0]} {share:.0%}" for g, share in profile.top_genres))
    if profile.eras:
        parts.append("eras " + ", ".join(f"{d}s {s:.0%}" for d, s in profile.eras))
    if profile.avoided_genres:
        parts.append("rarely " + join_words(genre_words(profile.avoided_genres)))
    return "; ".join(parts) + "."


def item_requests(data: PreparedData, material: TextMaterial, items: list[int] | None = None,
                  item_statistics: bool = True) -> list[TextRequest]:
    """One request per item from its metadata and (trustworthy) knowledge-graph facts, and
    with ``item_statistics`` the training co-likes ("also liked")."""
    template = load_prompt(ITEM_PROMPT)
    catalog = material.catalog
    out = []
    for item in items if items is not None else range(1, data.num_items + 1):
        facts = knowledge_sentences(item, catalog)
        liked = co_liked_sentence(item, catalog) if item_statistics else ""
        if liked:
            facts.append(liked)
        system, prompt = _fill(template, title=catalog.titles[item],
                               genres=", ".join(genre_words(catalog.genres[item])) or "unknown",
                               facts=" ".join(facts) or "none")
        out.append(TextRequest(f"item:{item}", system, prompt, template.key))
    return out
