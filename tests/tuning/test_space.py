"""The search-space file: validated up front, every error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ur4rec.errors import ConfigError
from ur4rec.tuning.space import check_space_fits, load_space, plan_params

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, content: dict, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content))
    return path


def test_shipped_space_fits_sasrec_and_holds_both_plans():
    space = load_space(REPO / "configs/tune_space_sasrec.yaml")
    base = REPO / "configs/sasrec_ml100k.yaml"
    check_space_fits(base, space)
    plan_a, ignored = plan_params(REPO / "configs/ur4rec_moe_100k_improved.yaml", base, space)
    plan_b, _ = plan_params(REPO / "configs/ur4rec_moe_100k_aggressive.yaml", base, space)
    assert plan_a["sasrec.hidden_dim"] == 128 and plan_b["sasrec.hidden_dim"] == 64
    assert plan_a["training.sasrec_lr"] == 0.001 and plan_b["training.batch_size"] == 8
    assert set(plan_a) == set(space)
    assert "model" in ignored and "data.dataset" in ignored  # reported, kept from the base


def test_legacy_keys_are_stored_dotted(tmp_path):
    space = load_space(write(tmp_path, {"sasrec_lr": {"type": "float", "low": 1e-4,
                                                      "high": 1e-2, "log": True}}))
    assert list(space) == ["training.sasrec_lr"] and space["training.sasrec_lr"].log


@pytest.mark.parametrize("content, message", [
    ({"sasrec.hidden_dimm": {"type": "int", "low": 8, "high": 64}},
     "unknown key 'sasrec.hidden_dimm'; did you mean 'sasrec.hidden_dim'"),
    ({"sasrec.dropout": {"type": "uniform", "low": 0, "high": 1}}, "type: float, int or"),
    ({"sasrec.dropout": {"type": "float", "low": 0.1, "high": 0.5, "choices": [1]}},
     "unknown field(s) ['choices']"),
    ({"sasrec.dropout": {"type": "float", "low": 0.5, "high": 0.1}}, "low (0.5) is above high"),
    ({"training.sasrec_lr": {"type": "float", "low": 0, "high": 0.1, "log": True}},
     "log needs low > 0"),
    ({"sasrec.num_blocks": {"type": "int", "low": 1.5, "high": 3}}, "whole low and high"),
    ({"sasrec.hidden_dim": {"type": "categorical", "choices": []}}, "non-empty list"),
    ({"num_items": {"type": "int", "low": 1, "high": 3}}, "cannot be searched"),
    ({"sasrec_lr": {"type": "float", "low": 1e-3, "high": 1e-2},
      "training.sasrec_lr": {"type": "float", "low": 1e-3, "high": 1e-2}}, "twice"),
])
def test_bad_spaces_name_the_file_and_key(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as error:
        load_space(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_bound_the_config_refuses_is_caught_before_any_trial(tmp_path):
    space = load_space(write(tmp_path, {"sasrec.dropout": {"type": "float", "low": 0.1,
                                                           "high": 1.0}}))
    with pytest.raises(ConfigError, match=r"'sasrec.dropout' = 1.0 does not fit"):
        check_space_fits(REPO / "configs/sasrec_ml100k.yaml", space)


def test_a_plan_outside_the_space_is_refused(tmp_path):
    space = load_space(write(tmp_path, {"sasrec.dropout": {"type": "float", "low": 0.25,
                                                           "high": 0.5}}))
    with pytest.raises(ConfigError, match=r"sasrec.dropout = 0.2 is outside the search space"):
        plan_params(REPO / "configs/ur4rec_moe_100k_improved.yaml",
                    REPO / "configs/sasrec_ml100k.yaml", space)
