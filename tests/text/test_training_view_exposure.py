"""The training view of the user texts names none of the retriever's training targets (real
ML-100K, template texts); the evaluation texts, written from the whole training part, do."""

from __future__ import annotations

import pytest

from ur4rec.text.template import template_texts
from ur4rec.text.training_view import training_target_exposure


@pytest.mark.slow
def test_training_view_texts_name_no_training_target(ml100k):
    window = 32
    view = ml100k.without_recent_training(window)
    exposure = training_target_exposure(ml100k, view, template_texts(view)[0])
    assert exposure["possible_targets"] > 20_000
    assert exposure["in_text_source"] == 0
    assert exposure["named_in_text"] == 0 and exposure["share_named"] == 0.0
    # the same measure on texts written from the whole training part finds the targets
    leaky = training_target_exposure(ml100k, view, template_texts(ml100k)[0])
    assert leaky["named_in_text"] > 0
