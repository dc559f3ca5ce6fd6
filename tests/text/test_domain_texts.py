"""Template texts in each dataset's own words: products, businesses, items of unknown kind."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import DataConfig, TextsConfig
from ur4rec.data.canonical import RawDataset
from ur4rec.data.prepared import PreparedData, build_prepared, effective_settings
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import read_provenance
from ur4rec.text.template import template_texts
from ur4rec.text.versions import backend_identity, template_version

from ..conftest import synthetic_interactions

FILM_WORDS = re.compile(r"\b(films?|viewers?|watch(ed|es)?|genres?|rated|stars)\b|from the \d",
                        re.IGNORECASE)
FILM_PHRASES = re.compile(r"\bis an? [a-z' -]*film( from|\.)|\bviewers?\b|has (rated|watched) \d|Favourite genres|"
                          r"Recently enjoyed|Mostly watches films|from the (early|mid|late)-")
"""the film template's own wording (real titles may say "film" or "watch": a watch shop)"""


def build(interactions: pd.DataFrame, items: pd.DataFrame | None = None, domain: str = "auto",
          users: pd.DataFrame | None = None, num_candidates: int = 5) -> PreparedData:
    config = DataConfig(dataset="shop", path=Path("shop.csv"), domain=domain,
                        num_candidates=num_candidates)
    raw = RawDataset(name="shop", interactions=interactions, source="shop")
    if items is not None:
        raw.items = items
    if users is not None:
        raw.users = users
    return build_prepared(raw, config, effective_settings(config))


def product_items(num_items: int, planted: int = 0) -> pd.DataFrame:
    """Products "1".. with titles, a shared root category, a type category and a brand."""
    rows = [(str(i), f"Lipstick Shade {i} (Matte, 3.5g)", None, [],
             ["Beauty", "Lips" if i % 2 else "Nails"], f"Brand{i % 3}")
            for i in range(1, num_items + 1)]
    rows += [(f"p{k}", f"Zyzzogeton Serum {k}", None, [], ["Beauty", "Secret"], "Planted")
             for k in range(planted)]
    frame = pd.DataFrame(rows, columns=["item", "title", "year", "genres", "categories", "brand"])
    frame["year"] = frame["year"].astype("Int64")
    return frame


def unrated(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(rating=np.nan)


@pytest.fixture
def shop() -> PreparedData:
    return build(unrated(synthetic_interactions(num_users=30, num_items=40, length=14)),
                 product_items(40), domain="product")


def test_product_texts_speak_of_products_customers_brands_and_categories(shop):
    users, items = template_texts(shop)
    text = items[1]
    assert text.startswith("Lipstick Shade 1 (Matte, 3.5g). A product by Brand1 in Lips.")
    assert re.search(r"It is .*\(\d+ purchases?\)\.", text)
    assert "Customers who bought it also bought" in " ".join(items)
    assert users[0].startswith("A customer who has bought 12 products. Favourite categories: ")
    assert "Favourite brand: Brand" in users[0] and "Recently bought Lipstick Shade" in users[0]
    assert not FILM_WORDS.search(" ".join(users + items))


def test_a_category_every_item_has_is_left_out(shop):
    users, items = template_texts(shop)
    assert "Beauty" not in " ".join(users + items)


def test_own_data_names_its_domain_and_may_choose_films(tiny_data):
    assert tiny_data.meta["domain"] == "generic"
    films = build(synthetic_interactions(), domain="film")
    assert films.meta["domain"] == "film"
    users, items = template_texts(films)
    assert "who has rated 10 films" in users[0] and " is a film." in items[1]


def test_business_texts_count_repeat_visits(shop):
    interactions = unrated(synthetic_interactions(num_users=20, num_items=30, length=10))
    first = interactions[interactions["user"] == "u0"].iloc[0]
    repeat = first.copy()
    repeat["timestamp"] = 1  # an earlier visit to the same place: inside the training part
    data = build(pd.concat([interactions, repeat.to_frame().T], ignore_index=True)
                 .astype({"timestamp": np.int64, "rating": float}),
                 product_items(30), domain="business")
    users, items = template_texts(data)
    assert users[0].startswith("A visitor who has visited 8 businesses (9 visits).")
    assert "A business by Brand1 listed under Lips." in items[1]
    assert re.search(r"\(\d+ visits?\)", items[1])


def test_without_item_statistics_the_item_text_is_the_metadata_alone(shop):
    _, items = template_texts(shop, item_statistics=False)
    assert items[1] == "Lipstick Shade 1 (Matte, 3.5g). A product by Brand1 in Lips."


def test_demographics_name_the_person_in_the_domain(shop):
    interactions = unrated(synthetic_interactions(num_users=4, num_items=30, length=8))
    users = pd.DataFrame({"user": ["u0", "u1", "u2", "u3"], "age": ["20", "", "", ""],
                          "gender": ["F", "M", "", ""], "occupation": ["engineer", "", "", ""]})
    data = build(interactions, product_items(30), domain="product", users=users)
    texts, _ = template_texts(data)
    assert texts[0].startswith("A 20-year-old female engineer who has bought")
    assert texts[1].startswith("A man who has bought") and texts[2].startswith("A customer")


def test_each_domain_has_its_own_template_version(shop, tmp_path):
    assert template_version(True, "film") == template_version(True)
    versions = {template_version(True, d) for d in ("film", "product", "business", "generic")}
    assert len(versions) == 4 and template_version(True).startswith("template-v1")
    assert backend_identity("template", TextsConfig(), domain="product")[1].startswith(
        "template-product-v1")
    generate_texts(shop, "template", TextsConfig(), tmp_path / "texts", progress=False)
    assert read_provenance(tmp_path / "texts")["prompt_version"].startswith("template-product-v1")


def test_user_texts_never_name_validation_or_test_products():
    """Every user's last two products are planted ones with a word found nowhere else."""
    base = unrated(synthetic_interactions(num_users=12, num_items=30, length=10))
    rows = [base]
    for k, user in enumerate(base["user"].unique()):
        last = base.loc[base["user"] == user, "timestamp"].max()
        rows.append(pd.DataFrame({"user": [user, user], "item": [f"p{2 * k}", f"p{2 * k + 1}"],
                                  "timestamp": [last + 5, last + 9], "rating": np.nan}))
    data = build(pd.concat(rows, ignore_index=True), product_items(30, planted=24),
                 domain="product")
    users, items = template_texts(data)
    assert not any("Zyzzogeton" in text or "Secret" in text or "Planted" in text
                   for text in users)
    assert "Zyzzogeton" in " ".join(items)  # the items themselves are described


@pytest.mark.slow
def test_beauty_texts_speak_of_products(beauty):
    users, items = template_texts(beauty)
    prada = int(beauty.items.loc[beauty.items["title"].str.startswith(
        "Prada Candy", na=False), "item_idx"].iloc[0])
    assert items[prada].startswith("Prada Candy By Prada Eau De Parfum Spray 1.7 Oz For Women.")
    assert re.search(r"It is .*\(\d+ purchases?\)\.", items[prada])
    # the example: "A viewer who has watched 4 films. Recently enjoyed … Cosplay Wig …"
    assert users[0].startswith("A customer who has bought 4 products. Recently bought ")
    assert "Cosplay Wig" in users[0]
    assert not FILM_PHRASES.search(" ".join(users + items))


@pytest.mark.slow
def test_scientific_item_texts_name_brand_and_category(scientific):
    _, items = template_texts(scientific)
    index = int(scientific.items.set_index("item").loc["B0000223SI", "item_idx"])
    assert items[index].startswith(
        "PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit Adhesive-Backed Sanding Roll. A product "
        "by PORTER-CABLE in Abrasive & Finishing Products Manual Sanding Products Sanding Rolls.")
    assert "Industrial & Scientific" not in " ".join(items)


@pytest.mark.slow
def test_yelp_texts_speak_of_businesses_and_visits(yelp):
    users, items = template_texts(yelp)
    index = int(yelp.items.set_index("item").loc["5eV8oUGdBXylwB7HeaDFOA", "item_idx"])
    assert items[index].startswith("The Great Greek. A business listed under Diners, Greek, "
                                   "Mediterranean and Restaurants. It is ")
    assert any(re.match(r"A visitor who has visited \d+ businesses \(\d+ visits\)", u)
               for u in users)
    assert not FILM_PHRASES.search(" ".join(users + items))
