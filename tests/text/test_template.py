"""The template backend: readable, informative, deterministic; the graph only when trustworthy."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from ur4rec.text.catalog import display_title
from ur4rec.text.knowledge import kg_linkage_check
from ur4rec.text.template import build_material, template_texts

from .conftest import build, consistent_kg, film_items, synthetic_interactions


@pytest.mark.parametrize("title, year, expected", [
    ("Usual Suspects, The", 1995, "The Usual Suspects (1995)"),
    ("Horseman on the Roof, The (Hussard sur le toit, Le)", 1995,
     "The Horseman on the Roof (Le Hussard sur le toit) (1995)"),
    ("Star Maker, The (Uomo delle stelle, L')", 1995, "The Star Maker (L'Uomo delle stelle) (1995)"),
    ("Toy Story", None, "Toy Story"),
    (None, 1995, "an untitled film (item 7)"),
])
def test_display_title_moves_articles_to_the_front(title, year, expected):
    assert display_title(title, year, 7) == expected


def test_item_text_says_title_era_genres_reception_neighbours_and_graph_facts(films):
    _, items = template_texts(films)
    text = items[1]
    assert text.startswith("Film Number 1 (1951) is a comedy and horror film from the early-1950s")
    assert "viewers" in text and "of 5 stars" in text
    assert "shares its director with Film Number 2 (1952)" in text
    assert "Its sequel Film Number 2 (1952) is also in the catalogue." in text
    assert "The Film Number 4 (1954)" in " ".join(items)  # article moved in lists too
    assert "It won 1 award." in items[6]


def test_user_text_says_genres_with_shares_eras_style_favourites(films):
    users, _ = template_texts(films)
    text = users[0]
    assert text.startswith("A 20-year-old female engineer who has rated 12 films, averaging")
    assert "Favourite genres:" in text and "%)" in text
    assert "Mostly watches films from the 1950s" in text
    assert "Recently enjoyed" in text and "rater" in text
    assert "share a director" in text  # recurring people through catalogue films


def test_texts_are_deterministic(films):
    assert template_texts(films) == template_texts(films)


def test_no_ratings_and_no_metadata_still_give_texts(tiny_data):
    tiny_data.interactions["rating"] = np.nan
    users, items = template_texts(tiny_data)
    assert all(users) and all(items[1:]) and items[0] == ""
    # nothing says these items are films (no release years): the neutral words
    assert tiny_data.meta["domain"] == "generic"
    assert "has interacted with" in users[0] and "film" not in " ".join(users + items)


def test_a_mislinked_graph_is_detected_and_not_used(films):
    genres = [[]] + [list(g) for g in films.items["genres"]]
    assert kg_linkage_check(films.kg, genres, films.num_items)["usable"]
    shuffled = films.kg.copy()
    rng = np.random.default_rng(0)
    # every fact moved to a random other film: what the RecBole copy of ML-100K does
    shuffled["item_idx"] = rng.permutation(np.arange(1, films.num_items + 1))[
        shuffled["item_idx"].to_numpy() - 1]
    check = kg_linkage_check(shuffled, genres, films.num_items)
    assert not check["usable"] and check["verified"]
    films.kg = shuffled
    material = build_material(films)
    assert material.catalog.knowledge is None
    assert "shares its director" not in " ".join(template_texts(films, material)[1])


def test_no_graph_means_no_graph_sentences(tiny_data):
    _, items = template_texts(tiny_data)
    assert not any("shares" in text for text in items)


def test_user_without_liked_training_items_still_has_genres():
    frame = synthetic_interactions(num_users=5, num_items=12, length=8)
    frame["rating"] = 2.0
    data = build(frame, film_items(12), consistent_kg(film_items(12)))
    users, _ = template_texts(data)
    assert all("Favourite genres" in u for u in users)
    assert all("averaging 2.0 stars" in u and "Recently enjoyed" in u for u in users)


@pytest.mark.slow
def test_ml100k_template_is_fast_informative_and_skips_the_mislinked_graph(ml100k):
    started = time.perf_counter()
    material = build_material(ml100k)
    users, items = template_texts(ml100k, material)
    assert time.perf_counter() - started <= 10
    assert len(users) == 943 and len(items) == 1683
    assert material.catalog.knowledge is None  # RUCAIBox/RecSysDatasets#130
    assert not material.catalog.kg_check["usable"]
    star_wars = items[50]
    assert star_wars.startswith("Star Wars (1977) is an action, adventure")
    assert "The Empire Strikes Back (1980)" in star_wars
    assert "Return of the Jedi (1983)" in star_wars
    assert len(set(users)) == len(users)  # every user described differently
    assert np.mean([len(u.split()) for u in users]) > 40


@pytest.mark.slow
def test_ml100k_user_texts_name_only_training_films(ml100k):
    users, _ = template_texts(ml100k)
    material = build_material(ml100k)
    titles = material.catalog.short_titles
    for user, text in enumerate(users):
        train_titles = {titles[i] for i in ml100k.train_sequences[user]}
        for held_out in ml100k.sequences[user][-2:]:
            if titles[held_out] not in train_titles:
                assert titles[held_out] not in text, (user, titles[held_out])


def test_catalog_statistics_use_training_interactions_only(planted):
    material = build_material(planted)
    planted_rows = planted.items[planted.items["item"].str.startswith("p")]["item_idx"]
    assert (material.catalog.train_counts[planted_rows.to_numpy()] == 0).all()
    frame = pd.Series(material.catalog.co_liked).explode().dropna()
    assert not set(frame.astype(int)) & set(planted_rows)


STATISTIC_WORDS = ("viewer", "of 5 stars", "also liked", "Nobody has rated")


def test_without_item_statistics_items_are_described_from_the_catalogue_alone(films):
    _, full = template_texts(films)
    _, bare = template_texts(films, item_statistics=False)
    assert any("also liked" in text for text in full)  # the films do have co-likes
    for item in range(1, films.num_items + 1):
        assert not any(word in bare[item] for word in STATISTIC_WORDS), bare[item]
        assert full[item].startswith(bare[item].split(". ")[0])  # the identity sentence stays
    assert "shares its director with Film Number 2 (1952)" in bare[1]  # graph facts stay
    assert "It won 1 award." in bare[6]


def test_without_item_statistics_a_cold_item_reads_as_it_would_if_trained():
    """The cold-item protocol takes every interaction with some items away: the texts of those
    items (all of them, and nothing else) must read as they do with the items trained."""
    items = film_items(40)
    interactions = synthetic_interactions(num_users=30, num_items=40, length=14)
    trained = build(interactions, items, consistent_kg(items))
    cold = build(interactions, items, consistent_kg(items), cold_items=0.2)
    assert len(cold.cold_items) == 8
    for statistics in (True, False):
        _, with_trained = template_texts(trained, item_statistics=statistics)
        _, with_cold = template_texts(cold, item_statistics=statistics)
        by_id = dict(zip(trained.item_ids[1:], with_trained[1:], strict=True))
        changed = [item for item in cold.cold_items
                   if with_cold[item] != by_id[cold.item_ids[item]]]
        if statistics:  # "Nobody has rated it yet" instead of its reception
            assert len(changed) == len(cold.cold_items)
            assert all("Nobody has rated" in with_cold[item] for item in cold.cold_items)
        else:
            assert changed == []
