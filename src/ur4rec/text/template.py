"""The offline, deterministic backend: informative prose from metadata and training statistics.

It is the default input of the retriever, so it says what a sentence encoder can use: readable
titles, genres and eras, how viewers received a film and which films the same people liked, the
people a film shares with other catalogue films (when the knowledge graph is trustworthy), and for
users their favourite genres with shares, eras, rating style, recent favourites and dislikes.
Bump :data:`TEMPLATE_VERSION` whenever the wording changes;
:func:`ur4rec.text.versions.template_version` (the wording's version plus what this environment
can write) is part of every cache key.

That is the film template. Datasets of other domains (``meta.json`` → ``domain``: products,
businesses, items of unknown kind) are written by :mod:`ur4rec.text.domain` in their own words
and under their own versions; the film texts do not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ur4rec.data.prepared import PreparedData
from ur4rec.text import domain as domains
from ur4rec.text.catalog import Catalog, build_catalog, era_phrase
from ur4rec.text.history import training_interactions
from ur4rec.text.profiles import UserProfile, build_profiles

TEMPLATE_VERSION = "template-v1"

_GENRE_WORDS = {"Sci-Fi": "science-fiction", "Film-Noir": "film-noir", "Children's": "children's"}
_GENDER_WORDS = {"M": "man", "F": "woman"}
_GENDER_ADJECTIVES = {"M": "male ", "F": "female "}
_SHARED_SHOWN = {"actor": 3}


@dataclass
class TextMaterial:
    """Everything the backends need to describe a dataset (built once, reused by all texts)."""

    catalog: Catalog
    profiles: list[UserProfile]


def build_material(data: PreparedData, item_statistics: bool = True) -> TextMaterial:
    """``item_statistics=False``: see :func:`item_text` (graph facts then name films in
    catalogue order, not by training popularity, for users too). Outside films the catalogue
    holds the source's titles and the categories in place of genres
    (:func:`ur4rec.text.domain.domain_catalog`)."""
    train = training_interactions(data)
    catalog = build_catalog(data, train, popularity_ordered_knowledge=item_statistics)
    domain = domains.domain_of(data)
    if domain != "film":
        catalog = domains.domain_catalog(catalog, data, domains.VOCABULARIES[domain])
    return TextMaterial(catalog=catalog, profiles=build_profiles(data, train, catalog))


def template_texts(data: PreparedData, material: TextMaterial | None = None,
                   item_statistics: bool = True) -> tuple[list[str], list[str]]:
    """``(user_texts [num_users], item_texts [num_items + 1])``; item row 0 is ``""``.

    ``item_statistics=False`` (``texts.item_statistics``): see :func:`item_text`."""
    material = material or build_material(data, item_statistics)
    catalog = material.catalog
    if catalog.popularity_ordered_knowledge != item_statistics:
        raise ValueError(f"template_texts(item_statistics={item_statistics}) needs material "
                         f"built with build_material(data, item_statistics={item_statistics})")
    percentile = catalog.popularity_percentile()
    domain = domains.domain_of(data)
    if domain != "film":
        return _domain_texts(data, material, percentile, item_statistics,
                             domains.VOCABULARIES[domain])
    items = [""] + [item_text(i, catalog, percentile, item_statistics)
                    for i in range(1, catalog.num_items + 1)]
    users = [user_text(profile, catalog) for profile in material.profiles]
    return users, items


def _domain_texts(data: PreparedData, material: TextMaterial, percentile: np.ndarray,
                  item_statistics: bool, vocabulary: domains.Vocabulary
                  ) -> tuple[list[str], list[str]]:
    """:func:`template_texts` for products, businesses and items of unknown kind."""
    catalog, brands = material.catalog, domains.item_brands(data)
    items = [""] + [domains.item_text(i, catalog, brands, percentile, vocabulary,
                                      item_statistics)
                    for i in range(1, catalog.num_items + 1)]
    users = [domains.user_text(profile, catalog, brands, person_phrase(
                 profile.demographics, vocabulary.person) if profile.demographics else
                 vocabulary.someone, vocabulary) for profile in material.profiles]
    return users, items


def genre_words(genres: list[str]) -> list[str]:
    return [_GENRE_WORDS.get(g, g.lower()) for g in genres if g.lower() != "unknown"]


def join_words(words: list[str]) -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def item_text(item: int, catalog: Catalog, percentile: np.ndarray,
              statistics: bool = True) -> str:
    """A paragraph about one item; ``percentile`` from :meth:`Catalog.popularity_percentile`.

    Without ``statistics`` the sentences computed from training interactions (reception,
    "also liked") are left out: every item, trained or new, is then described alike."""
    sentences = [_identity_sentence(item, catalog)]
    if statistics:
        sentences.append(_reception_sentence(item, catalog, percentile[item]))
        sentences.append(co_liked_sentence(item, catalog))
    sentences += knowledge_sentences(item, catalog)
    return " ".join(s for s in sentences if s)


def co_liked_sentence(item: int, catalog: Catalog) -> str:
    """"Viewers who liked it also liked …" from the training co-likes; "" when there are none."""
    liked_with = [catalog.short_titles[i] for i in catalog.co_liked[item]]
    return f"Viewers who liked it also liked {join_words(liked_with)}." if liked_with else ""


def _identity_sentence(item: int, catalog: Catalog) -> str:
    words = genre_words(catalog.genres[item])
    kind = f"{join_words(words)} film" if words else "film"
    era = era_phrase(int(catalog.years[item]))
    when = f" from the {era}" if era else ""
    title = catalog.titles[item]
    return f"{title[:1].upper()}{title[1:]} is {_article(kind)} {kind}{when}."


def _reception_sentence(item: int, catalog: Catalog, percentile: float) -> str:
    count = int(catalog.train_counts[item])
    if count == 0:
        return "Nobody has rated it yet in the training data."
    if percentile >= 0.95:
        reach = f"one of the most watched films ({count} viewers)"
    elif percentile >= 0.75:
        reach = f"a popular film ({count} viewers)"
    elif percentile >= 0.25:
        reach = f"moderately known ({count} viewers)"
    else:
        reach = f"rarely watched ({count} viewer{'s' if count > 1 else ''})"
    mean = catalog.train_mean_rating[item]
    if math.isnan(mean) or count < 5:
        return f"It is {reach}."
    verdict = ("acclaimed" if mean >= 4.2 else "well liked" if mean >= 3.7 else
               "received with mixed feelings" if mean >= 3.0 else "poorly received")
    return f"It is {reach} and {verdict}, averaging {mean:.1f} of 5 stars."


def knowledge_sentences(item: int, catalog: Catalog) -> list[str]:
    """What the knowledge graph adds, named through other catalogue films; [] without a graph."""
    facts = catalog.knowledge
    if facts is None:
        return []
    out = []
    for relation, role in (("directed_by", "its director"), ("written_by", "writers"),
                           ("actor", "cast members"), ("cinematography", "its cinematographer")):
        others = facts.shared.get(relation, [])
        shown = others[item][:_SHARED_SHOWN.get(relation, 2)] if others else []
        if shown:
            names = join_words([catalog.short_titles[i] for i in shown])
            out.append(f"It shares {role} with {names}.")
    if facts.sequels and facts.sequels[item]:
        out.append(f"Its sequel {join_words([catalog.short_titles[i] for i in facts.sequels[item]])} "
                   "is also in the catalogue.")
    if facts.prequels and facts.prequels[item]:
        out.append(f"It follows {join_words([catalog.short_titles[i] for i in facts.prequels[item]])}.")
    if facts.outside_sequels is not None and facts.outside_sequels[item] and not (
            facts.sequels[item] or facts.prequels[item]):
        out.append("It belongs to a film series.")
    out.append(_awards_sentence(int(facts.awards_won[item]), int(facts.nominations[item])))
    if facts.foreign_language is not None and facts.foreign_language[item]:
        out.append("It is a foreign-language film.")
    return [s for s in out if s]


def _awards_sentence(won: int, nominated: int) -> str:
    if won and nominated:
        return f"It won {won} award{'s' * (won > 1)} and had {nominated} nomination" \
               f"{'s' * (nominated > 1)}."
    if won:
        return f"It won {won} award{'s' * (won > 1)}."
    if nominated:
        return f"It had {nominated} award nomination{'s' * (nominated > 1)}."
    return ""


def user_text(profile: UserProfile, catalog: Catalog) -> str:
    """A paragraph about one user's taste, from the training part of their history only."""
    sentences = [_who_sentence(profile, catalog)]
    if profile.top_genres:
        shares = [f"{genre_words([g])[0]} ({share:.0%})" for g, share in profile.top_genres]
        sentence = f"Favourite genres: {join_words(shares)}"
        if profile.distinctive_genres:
            sentence += (f"; watches more {join_words(genre_words(profile.distinctive_genres))} "
                         "than the typical viewer")
        sentences.append(sentence + ".")
    if profile.eras:
        eras = [f"the {decade}s ({share:.0%})" for decade, share in profile.eras]
        sentences.append(f"Mostly watches films from {join_words(eras)}.")
    if profile.recent_liked:
        titles = join_words([catalog.short_titles[i] for i in profile.recent_liked])
        sentences.append(f"Recently enjoyed {titles}.")
    for role, films in profile.recurring_people:
        noun = f"a {role}" if role in ("director", "cinematographer") else role
        titles = join_words([catalog.short_titles[i] for i in films])
        sentences.append(f"Several favourites share {noun}: {titles}.")
    if profile.disliked:
        sentences.append(f"Disliked {join_words([catalog.short_titles[i] for i in profile.disliked])}.")
    if profile.avoided_genres:
        sentences.append(
            f"Rarely watches {join_words(genre_words(profile.avoided_genres))} films.")
    return " ".join(sentences)


def person_phrase(facts: dict[str, str], noun: str) -> str:
    """"A viewer" (``noun``), or from demographics "A 24-year-old female engineer"."""
    if not facts:
        return f"{_article(noun).capitalize()} {noun}"
    age = f"{facts['age']}-year-old " if facts.get("age", "").isdigit() else ""
    gender = facts.get("gender", "")
    job = facts.get("occupation", "")
    job = "" if job.lower() in ("none", "other", "") else job
    if job:
        noun = f"{_GENDER_ADJECTIVES.get(gender, '')}{job}"
    else:
        noun = _GENDER_WORDS.get(gender, noun)
    return f"{_article(age or noun).capitalize()} {age}{noun}"


def _who_sentence(profile: UserProfile, catalog: Catalog) -> str:
    person = person_phrase(profile.demographics, "viewer")
    count = f"{profile.num_rated} film{'s' * (profile.num_rated != 1)}"
    if math.isnan(profile.mean_rating):
        return f"{person} who has watched {count}."
    style = _rating_style(profile.mean_rating, catalog.global_mean_rating)
    return (f"{person} who has rated {count}, averaging {profile.mean_rating:.1f} stars: "
            f"{style}.")


def _rating_style(mean: float, typical: float) -> str:
    if math.isnan(typical):
        typical = 3.5
    if mean >= typical + 0.4:
        return "a generous rater"
    if mean <= typical - 0.4:
        return "a critical rater"
    return "a typical rater"
