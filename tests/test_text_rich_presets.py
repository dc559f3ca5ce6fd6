"""The presets of the text-rich datasets: SASRec alone (configs/sasrec_{beauty,scientific,yelp}.yaml)
and the best text-using model measured (configs/ur4rec_*.yaml: SASRec with the item-text adapter,
item-id dropout 0.3 and the text zero-shot score blended into the ranking at a share chosen on
validation; chosen on Scientific and carried to Beauty and Yelp unchanged).
Their model settings carry over to a user's own file when only the data section is overridden."""

from __future__ import annotations

import json

import pytest
import yaml

from ur4rec.cli import main
from ur4rec.config import load_config

from .conftest import synthetic_interactions

PRESETS = {"sasrec_beauty": "amazon-beauty", "sasrec_scientific": "amazon-scientific",
           "sasrec_yelp": "yelp", "ur4rec_beauty": "amazon-beauty",
           "ur4rec_scientific": "amazon-scientific", "ur4rec_yelp": "yelp"}
TEXT_PRESETS = [name for name in PRESETS if name.startswith("ur4rec_")]


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_preset_names_its_dataset_and_selects_on_full_ranking(name):
    config = load_config(name)
    assert config.data.dataset == PRESETS[name] and config.model == "sasrec"
    assert config.evaluation.protocol == "full" and config.training.loss == "ce"
    assert config.sasrec.item_text == ("adapter" if name in TEXT_PRESETS else "none")


@pytest.mark.parametrize("name", TEXT_PRESETS)
def test_a_text_preset_is_its_sasrec_preset_with_item_text(name):
    dataset = {"amazon-beauty": "beauty", "amazon-scientific": "scientific", "yelp": "yelp"}
    base = load_config(f"sasrec_{dataset[PRESETS[name]]}")
    text = load_config(name)
    assert text.sasrec.model_dump() == base.sasrec.model_copy(
        update={"item_text": "adapter", "item_text_id_dropout": 0.3,
                "select_text_score_share": True, "text_score_history_len": 3,
                "text_score_lexical_share": 0.5, "select_text_score_rarity": True}).model_dump()
    assert text.training.model_dump() == base.training.model_dump()


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_preset_trains_on_your_own_file_by_overriding_the_data_section(name, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    log = tmp_path / "inter.csv"
    synthetic_interactions(num_users=30, num_items=40, length=12).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    run = tmp_path / "run"
    assert main(["train", "--config", name, "--output_dir", str(run),
                 "--set", "data.dataset=mine", "--set", f"data.path={log}",
                 "--set", "data.num_candidates=10",
                 "--set", "training.epochs_per_stage=1", "--set", "training.device=cpu"]) == 0
    used = yaml.safe_load((run / "config.yaml").read_text())
    preset = load_config(name)
    assert used["data"]["path"] == str(log) and used["data"]["dataset"] == "mine"
    assert used["sasrec"] == preset.sasrec.model_dump(mode="json")
    results = json.loads((run / "results.json").read_text())
    assert results["dataset"]["users"] == 30
    assert results["protocol"]["selection"] == "valid full ndcg@10"
    if name in TEXT_PRESETS:  # the text score's share, chosen on validation
        assert set(results["fusion_selection"]) >= {"sasrec_weight", "text_weight"}
