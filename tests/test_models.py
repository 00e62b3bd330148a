"""The model zoo: shipped weights load, match their checksums, and reach their accuracy."""

import shutil

import pytest
import torch

from camlib import data, models, paths

NAMES = ["acol", "acol_a", "flatten", "gap", "gap_biased", "gmp"]


def test_available():
    assert set(NAMES) <= set(models.available())


def test_every_shipped_model_loads_and_is_small():
    for name in models.available():
        assert not models.load(name).training
        assert models.info(name)["bytes"] < 5e6


@pytest.mark.parametrize("name", NAMES)
def test_load_in_eval_mode(name):
    model = models.load(name)
    assert not model.training
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 4)


def test_gap_accuracy_as_recorded():
    test = data.split("test")
    acc = models.accuracy(models.load("gap"), test.images, test.labels)
    assert acc >= 0.95
    assert acc == pytest.approx(models.info("gap")["metrics"]["test_acc"], abs=1e-4)


def test_test_split_is_pinned():
    pinned = models._manifest()["data"]["test_single_sha256"]
    assert data.checksum(data.split("test")) == pinned


def test_checksum_mismatch_refused(tmp_path, monkeypatch):
    shutil.copytree(paths.DATA, tmp_path / "data")
    with open(tmp_path / "data" / "models" / "gap.pt", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setattr(paths, "DATA", tmp_path / "data")
    monkeypatch.setattr(paths, "MANIFEST", tmp_path / "data" / "manifest.json")
    with pytest.raises(ValueError, match=r"checksum mismatch.*git checkout.*camlib.train gap"):
        models.load("gap")


def test_unknown_model_named():
    with pytest.raises(ValueError, match="available are"):
        models.load("resnet50")


def test_acol_maps_come_from_the_forward_pass():
    model = models.load("acol")
    x = data.split("test", n=4).images
    out = model.forward_maps(x)
    assert torch.allclose(out["logits_a"], out["maps_a"].mean((2, 3)))
    assert torch.allclose(model(x), out["logits_a"] + out["logits_b"])
    assert out["fused"].min() >= 0 and out["fused"].max() <= 1


def test_sweep_models_use_their_recorded_recipe():
    sweep = [n for n in models.available() if n not in models.RECIPES]
    assert sweep
    for name in sweep:
        assert models.recipe(name) == models.info(name)["recipe"]
        assert models.load(name).delta == models.info(name)["recipe"]["delta"]


def test_acol_a_is_acol_without_b():
    torch.manual_seed(0)
    acol = models.build("acol")
    torch.manual_seed(0)
    alone = models.build("acol_a")
    shipped = acol.state_dict()
    for key, value in alone.state_dict().items():  # same initial backbone and head A
        assert torch.equal(value, shipped[key]), key
    assert not any(k.startswith("head_b") for k in alone.state_dict())
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(alone(x), acol.forward_maps(x)["logits_a"], atol=1e-6)


def test_train_records_one_loss_per_step():
    losses = []
    models.train("acol_a", epochs=1, n_train=128, progress=False, history=losses)
    assert len(losses) == 2  # 128 images, batches of 64
    assert all(0 < v < 10 for v in losses)
