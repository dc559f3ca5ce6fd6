import pytest

from ur4rec.config import config_from_dict, load_config
from ur4rec.errors import ConfigError


def test_unknown_key_names_file_and_closest_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: sasrec\nsasrec:\n  hiden_dim: 32\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown key 'sasrec.hiden_dim'.*hidden_dim"):
        load_config(path)


def test_wrong_type_and_range_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  sasrec_lr: -0.1\n")
    with pytest.raises(ConfigError, match=r"training.sasrec_lr.*greater than 0"):
        load_config(path)
    path.write_text("sasrec:\n  max_seq_len: 0\n")
    with pytest.raises(ConfigError, match=r"sasrec.max_seq_len"):
        load_config(path)
    path.write_text("training:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match=r"training.batch_size.*'many'"):
        load_config(path)


def test_prototype_flat_keys_map_to_sections():
    config = config_from_dict({"sasrec_hidden_dim": 128, "sasrec_lr": 0.001,
                               "update_trigger": "DRIFT_THRESHOLD", "num_items": 1659,
                               "stages": ["pretrain_sasrec", "joint_finetune"]})
    assert config.sasrec.hidden_dim == 128
    assert config.training.sasrec_lr == 0.001
    assert config.memory.update_trigger.value == "DRIFT_THRESHOLD"
    assert config.training.stages == ["pretrain_sasrec", "joint_finetune"]


def test_stage_names_and_order_are_checked():
    with pytest.raises(ConfigError, match="pretrain_sasrec"):
        config_from_dict({"stages": ["pretrain_sasrek"]})
    with pytest.raises(ConfigError, match="in that order"):
        config_from_dict({"stages": ["joint_finetune", "pretrain_sasrec"]})


def test_overrides_win_and_unknown_override_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  patience: 3\n")
    assert load_config(path, {"training.patience": 7}).training.patience == 7
    assert load_config(path, {"patience": 9}).training.patience == 9
    with pytest.raises(ConfigError, match="command line: unknown key 'training.patienc'"):
        load_config(path, {"training.patienc": 1})


def test_a_dumped_preset_config_reloads_to_the_same_data(tmp_path):
    from ur4rec.config import config_from_dict, dump_config
    from ur4rec.data.prepared import effective_settings

    config = config_from_dict({"data": {"dataset": "ml-100k-seed"}})
    dump_config(config, tmp_path / "config.yaml")
    reloaded = load_config(tmp_path / "config.yaml")
    assert effective_settings(reloaded.data) == effective_settings(config.data)
    assert effective_settings(reloaded.data)["min_rating"] == 4


def test_a_packaged_config_loads_by_name_and_a_file_there_wins(tmp_path, monkeypatch):
    from ur4rec.config import packaged_configs

    from .conftest import REPO

    assert "ur4rec_ml100k" in packaged_configs() and "sasrec_ml100k" in packaged_configs()
    monkeypatch.chdir(tmp_path)  # not a clone: no configs/ folder here
    by_name = load_config("sasrec_ml100k")
    assert by_name == load_config("sasrec_ml100k.yaml") == load_config(
        REPO / "configs" / "sasrec_ml100k.yaml")
    (tmp_path / "sasrec_ml100k.yaml").write_text("name: mine\nmodel: pop\n")
    assert load_config("sasrec_ml100k.yaml").name == "mine"
    with pytest.raises(ConfigError, match="no packaged config has that name.*ur4rec_ml100k"):
        load_config("ur4rec_ml1OOk")


def test_ur4rec_configs_lists_and_prints_them(capsys):
    from ur4rec.cli import main
    from ur4rec.config import packaged_configs

    assert main(["configs"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[:-2] if line]
    assert listed == list(packaged_configs())
    assert main(["configs", "pop_ml100k"]) == 0
    assert capsys.readouterr().out == packaged_configs()["pop_ml100k"].read_text()
