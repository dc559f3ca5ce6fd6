"""Template texts for items that are not films: products, businesses, or items of unknown kind.

The film template (:mod:`ur4rec.text.template`) speaks of viewers, release years and genres;
here each domain (:mod:`ur4rec.data.domains`) has its own words — products bought by customers,
businesses visited by visitors, items users interacted with — and the item texts say what the
metadata has: the title (or name), the categories and the brand, then, with
``texts.item_statistics``, the training statistics in the domain's words. User texts come from
the training part of each history only (:mod:`ur4rec.text.history`), as for films.

Every domain has its own template version (``template-product-v1`` …), so caches never mix
the texts of two domains, and the film texts keep ``template-v1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ur4rec.data.domains import resolve_domain
from ur4rec.data.prepared import PreparedData
from ur4rec.text.catalog import Catalog
from ur4rec.text.profiles import UserProfile

MIN_BRAND_ITEMS = 2
"""a brand is a user's favourite only when it covers at least this many of their items"""


@dataclass(frozen=True)
class Vocabulary:
    """The words of one domain; plural forms are spelled out (no English inflection rules)."""

    domain: str
    version: str
    item: str
    items: str
    person: str
    people: str
    did: str
    """past participle of the interaction: "bought", "visited", "interacted with" """
    does: str
    """third person present: "buys", "visits", "interacts with" """
    event: str
    events: str
    placed: str
    """how an item sits in its categories: "in", "listed under" """
    someone: str
    """a user without demographics: "A customer", "A user" (articles are not guessed)"""


VOCABULARIES = {
    "product": Vocabulary("product", "template-product-v1", "product", "products", "customer",
                          "customers", "bought", "buys", "purchase", "purchases", "in",
                          "A customer"),
    "business": Vocabulary("business", "template-business-v1", "business", "businesses",
                           "visitor", "visitors", "visited", "visits", "visit", "visits",
                           "listed under", "A visitor"),
    "generic": Vocabulary("generic", "template-generic-v1", "item", "items", "user", "users",
                          "interacted with", "interacts with", "interaction", "interactions",
                          "in", "A user"),
}


def domain_of(data: PreparedData) -> str:
    """The domain the prepared data names in its meta (older folders: inferred the same way)."""
    return resolve_domain(data.meta.get("domain"), data.items)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _listed(values: object) -> list[str]:
    if isinstance(values, list | np.ndarray):
        return [str(value) for value in values if str(value).strip()]
    return []


def domain_catalog(catalog: Catalog, data: PreparedData, vocabulary: Vocabulary) -> Catalog:
    """``catalog`` with titles as the source spells them (no film-title rules: no article moved,
    no parenthesised part dropped — a product's variant often sits there) and each item's
    categories in place of genres, so user profiles count categories (less any category
    that every item has)."""
    items = data.items.sort_values("item_idx")
    titles = [""]
    for title, item in zip(items["title"], items["item"], strict=True):
        text = " ".join(str(title).split()) if isinstance(title, str) else ""
        titles.append(text or f"an untitled {vocabulary.item} (item {item})")
    values = items["categories"] if "categories" in items.columns else [None] * len(items)
    categories = [_listed(value) for value in values]
    return replace(catalog, titles=titles, short_titles=list(titles),
                   genres=[[]] + _without_universal(categories))


def _without_universal(categories: list[list[str]]) -> list[list[str]]:
    """Drop a category every categorised item carries (Scientific's "Industrial & Scientific"):
    it tells items apart no more than it tells users apart."""
    tagged = [set(values) for values in categories if values]
    if len(tagged) < 2:
        return categories
    universal = set.intersection(*tagged)
    return [[c for c in values if c not in universal] for values in categories]


def item_brands(data: PreparedData) -> list[str]:
    """Brand per item index ("" where none; row 0 is padding)."""
    items = data.items.sort_values("item_idx")
    values = items["brand"] if "brand" in items.columns else [None] * len(items)
    return [""] + [str(v).strip() if isinstance(v, str) else "" for v in values]


def item_text(item: int, catalog: Catalog, brands: list[str], percentile: np.ndarray,
              vocabulary: Vocabulary, statistics: bool = True) -> str:
    """What the item is (title, brand, categories) and, with ``statistics``, how it fared in
    training (interactions, popularity band, mean rating, what the same people chose)."""
    sentences = [_identity(item, catalog, brands[item], vocabulary)]
    if statistics:
        sentences.append(_reception(item, catalog, percentile[item], vocabulary))
        sentences.append(_together(item, catalog, vocabulary))
    return " ".join(s for s in sentences if s)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _identity(item: int, catalog: Catalog, brand: str, vocabulary: Vocabulary) -> str:
    title = catalog.titles[item]
    parts = [_sentence(title[:1].upper() + title[1:])]
    categories = catalog.genres[item]
    if brand or categories:
        kind = f"{_article(vocabulary.item).capitalize()} {vocabulary.item}"
        by = f" by {brand}" if brand else ""
        placed = f" {vocabulary.placed} {_join(categories)}" if categories else ""
        parts.append(f"{kind}{by}{placed}.")
    return " ".join(parts)


def _reception(item: int, catalog: Catalog, percentile: float, vocabulary: Vocabulary) -> str:
    count = int(catalog.train_counts[item])
    v = vocabulary
    if count == 0:
        return f"Nobody has {v.did} it yet in the training data."
    counted = _plural(count, v.event, v.events)
    if percentile >= 0.95:
        reach = f"one of the most {v.did} {v.items} ({counted})"
    elif percentile >= 0.75:
        reach = f"a popular {v.item} ({counted})"
    elif percentile >= 0.25:
        reach = f"moderately popular ({counted})"
    else:
        reach = f"rarely {v.did} ({counted})"
    mean = catalog.train_mean_rating[item]
    if math.isnan(mean) or count < 5:
        return f"It is {reach}."
    verdict = ("acclaimed" if mean >= 4.2 else "well liked" if mean >= 3.7 else
               "received with mixed feelings" if mean >= 3.0 else "poorly received")
    return f"It is {reach} and {verdict}, averaging {mean:.1f} of 5 stars."


def _together(item: int, catalog: Catalog, vocabulary: Vocabulary) -> str:
    """The items most often chosen by the same training users ("" when none)."""
    others = [catalog.short_titles[i] for i in catalog.co_liked[item]]
    if not others:
        return ""
    people = vocabulary.people.capitalize()
    if math.isnan(catalog.global_mean_rating):
        return f"{people} who {vocabulary.did} it also {vocabulary.did} {_join(others)}."
    return f"{people} who liked it also liked {_join(others)}."


def user_text(profile: UserProfile, catalog: Catalog, brands: list[str], person: str,
              vocabulary: Vocabulary) -> str:
    """A paragraph about one user from the training part of their history only; ``person``
    names them ("A customer", or with demographics "A 24-year-old engineer")."""
    v = vocabulary
    rated = not math.isnan(profile.mean_rating)
    sentences = [_who(profile, catalog, person, v)]
    if profile.top_genres:
        shares = [f"{name} ({share:.0%})" for name, share in profile.top_genres]
        sentence = f"Favourite categories: {_join(shares)}"
        if profile.distinctive_genres:
            sentence += (f"; {v.does} more {_join(profile.distinctive_genres)} than the "
                         f"typical {v.person}")
        sentences.append(sentence + ".")
    sentences.append(_favourite_brand(profile, brands, v))
    if profile.recent_liked:
        verb = "liked" if rated else v.did
        titles = _join([catalog.short_titles[i] for i in profile.recent_liked])
        sentences.append(f"Recently {verb} {titles}.")
    if profile.disliked:
        sentences.append(f"Disliked {_join([catalog.short_titles[i] for i in profile.disliked])}.")
    if profile.avoided_genres:
        sentences.append(f"Rarely {v.does} {_join(profile.avoided_genres)}.")
    return " ".join(s for s in sentences if s)


def _who(profile: UserProfile, catalog: Catalog, person: str, v: Vocabulary) -> str:
    distinct = len({item for item, _ in profile.history})
    sentence = f"{person} who has {v.did} {_plural(distinct, v.item, v.items)}"
    if profile.num_rated != distinct:
        sentence += f" ({_plural(profile.num_rated, v.event, v.events)})"
    if math.isnan(profile.mean_rating):
        return sentence + "."
    typical = catalog.global_mean_rating if not math.isnan(catalog.global_mean_rating) else 3.5
    style = ("a generous rater" if profile.mean_rating >= typical + 0.4 else
             "a critical rater" if profile.mean_rating <= typical - 0.4 else "a typical rater")
    return f"{sentence}, averaging {profile.mean_rating:.1f} stars: {style}."


def _favourite_brand(profile: UserProfile, brands: list[str], v: Vocabulary) -> str:
    counts: dict[str, int] = {}
    for item in dict.fromkeys(item for item, _ in profile.history):
        if brands[item]:
            counts[brands[item]] = counts.get(brands[item], 0) + 1
    if not counts:
        return ""
    brand, count = min(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    if count < MIN_BRAND_ITEMS:
        return ""
    return f"Favourite brand: {brand} ({_plural(count, v.item, v.items)})."
