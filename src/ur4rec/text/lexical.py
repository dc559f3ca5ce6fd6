"""Item texts as TF-IDF term vectors: the lexical view of the text score.

MiniLM places "PORTER-CABLE 80 grit sanding roll" near other abrasives; the exact brand, model
number and category words a customer buys again are what a sparse term vector keeps
(docs/text-value.md: on Scientific, Beauty and Yelp validation the lexical view ranks alone at
0.87–1.1× the MiniLM one and the two together beat either). Fitted on the item texts only — no
user's interactions — so the same texts give the same vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ur4rec.errors import ConfigError


def item_term_vectors(item_texts: list[str], key: str = "sasrec.text_score_lexical_share"
                      ) -> Any:
    """scipy CSR ``[N + 1, V]``: unit-length TF-IDF rows (words and word pairs seen in ≥ 2 item
    texts, sublinear term counts); row 0 — padding, text ``""`` — is zero. ``key``: the setting
    that asked for them, named in the errors."""
    try:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer
    except ImportError as err:
        raise ConfigError(f"{key} needs scikit-learn: pip install "
                          "'ur4rec[text]'") from err
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2),
                                 dtype=np.float32)
    try:
        terms = vectorizer.fit_transform(item_texts)
    except ValueError as err:  # no word or word pair occurs in two item texts
        raise ConfigError(f"{key}: the {len(item_texts) - 1} item texts "
                          "share no word or word pair, so they have no TF-IDF view "
                          f"({err}); set {key.split('.')[-1]}: 0") from err
    return sp.csr_matrix(terms, dtype=np.float32)
