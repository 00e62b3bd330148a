"""camlib.hub, and chapter 10's ImageNet-weights path, against a torch hub cache made here.

``camlib.hub`` finds and loads torchvision's cached weights. The first tests call it directly;
the last ones run chapter 10's own cells (its imports, the weights cell that calls
``hub.imagenet_model``, the photograph and fine-tuning cells) from
``notebooks/10_your_own_model.ipynb``. TORCH_HOME points to a temporary folder that holds a
ResNet-18 checkpoint under the file name torchvision expects (random weights, nothing is
downloaded: any download attempt fails the test).
"""

import contextlib
import io
import json
from pathlib import Path

import matplotlib
import pytest
import torch
import torchvision

from camlib import hub as camhub

matplotlib.use("Agg")

CHAPTER = Path(__file__).resolve().parent.parent / "notebooks" / "10_your_own_model.ipynb"
R18 = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
R18_FILE = "resnet18-f37072fd.pth"


def cells():
    nb = json.loads(CHAPTER.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def cell(marker):
    """The source of the one code cell of chapter 10 that contains `marker`."""
    found = ["".join(c["source"]) for c in cells() if marker in "".join(c["source"])]
    assert len(found) == 1, f"{len(found)} cells of chapter 10 contain {marker!r}"
    return found[0]


def run(ns, marker):
    """Execute that cell in the namespace `ns`; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(cell(marker), f"chapter 10: {marker}", "exec"), ns)
    return out.getvalue()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache under TORCH_HOME=tmp_path; downloads raise."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # forget any set_dir: use TORCH_HOME

    def no_download(url, *args, **kwargs):
        raise OSError(f"test: no download allowed ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return checkpoints


@pytest.fixture
def cached(hub):
    """The cache holding a randomly initialized ResNet-18's state_dict as resnet18-f37072fd.pth."""
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    torch.save(state, hub / R18_FILE)
    return state


# ------------------------------------------------------------ camlib.hub itself ----


def test_cache_file_is_where_torchvision_looks(hub):
    assert camhub.cache_file(R18) == hub / R18_FILE
    assert Path(torch.hub.get_dir()) == hub.parent
    vgg = torchvision.models.VGG16_Weights.IMAGENET1K_V1
    assert camhub.cache_file(vgg).name == vgg.url.rsplit("/", 1)[-1]


def test_cached_checkpoint_is_loaded_without_download(cached):
    net = camhub.imagenet_model(torchvision.models.resnet18, R18, allow_download=False)
    assert net is not None and not net.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, cached[key]), key


def test_no_checkpoint_and_no_download_gives_none(hub, capsys):
    assert camhub.imagenet_model(torchvision.models.resnet18, R18, allow_download=False) is None
    assert capsys.readouterr().out == ""  # nothing was attempted, nothing said
    assert list(hub.iterdir()) == []


def test_failed_download_goes_on_without_weights(hub, capsys):
    net = camhub.imagenet_model(torchvision.models.resnet18, R18, allow_download=True)
    assert net is None
    assert f"could not load {R18_FILE} (OSError)" in capsys.readouterr().out


def test_broken_checkpoint_goes_on_without_weights(hub, capsys):
    (hub / R18_FILE).write_bytes(b"not a checkpoint")
    assert camhub.imagenet_model(torchvision.models.resnet18, R18, allow_download=False) is None
    assert f"could not load {R18_FILE}" in capsys.readouterr().out


# ------------------------------------------------------- chapter 10's own cells ----


@pytest.fixture
def chapter():
    """The chapter's namespace after its parameters and imports cells (defaults: SMOKE etc.)."""
    ns = {"__name__": "chapter10"}
    params = next(c for c in cells() if "parameters" in c["metadata"].get("tags", []))
    exec("".join(params["source"]), ns)
    ns["SMOKE"] = True
    run(ns, "camlib.setup(SEED)")
    run(ns, "R18 = torchvision.models.ResNet18_Weights")
    return ns


def test_chapter_uses_camlib_hub(chapter):
    """The chapter calls camlib.hub; it no longer defines its own copies of the helpers."""
    assert chapter["hub"] is camhub
    sources = "".join("".join(c["source"]) for c in cells())
    assert "def cache_file" not in sources and "def imagenet_model" not in sources


def test_default_run_ignores_the_cache(cached, chapter):
    """PRETRAINED = False (the stored run): a cached checkpoint changes nothing that is printed."""
    assert chapter["PRETRAINED"] is False
    printed = run(chapter, "resnet_in = hub.imagenet_model(")
    assert chapter["resnet_in"] is None and chapter["vgg_in"] is None
    assert printed.startswith("PRETRAINED = False") and R18_FILE not in printed


def test_pretrained_without_weights_goes_on(hub, chapter):
    """PRETRAINED = True, an empty cache and no network: the chapter says so and trains."""
    chapter["PRETRAINED"] = True
    printed = run(chapter, "resnet_in = hub.imagenet_model(")
    assert chapter["resnet_in"] is None and chapter["vgg_in"] is None
    assert f"could not load {R18_FILE}" in printed
    assert "ResNet-18 is trained on ToyPets from scratch" in printed


def test_pretrained_path_photo_cam_and_fine_tuning(cached, chapter):
    """PRETRAINED = True with the checkpoint cached: the photograph cells and the fine-tune
    start."""
    chapter["PRETRAINED"] = True
    printed = run(chapter, "resnet_in = hub.imagenet_model(")
    assert f"ImageNet weights found ({R18_FILE})" in printed
    assert chapter["resnet_in"] is not None and chapter["vgg_in"] is None  # VGG-16 not cached
    run(chapter, "def load_photo")
    printed = run(chapter, "photo, source = load_photo()")
    assert chapter["photo"].shape == (1, 3, 224, 224)
    assert "ResNet-18 (ImageNet weights), top 5" in printed
    printed = run(chapter, "G4 = camlib.grad_cam(resnet_in")  # CAM identity + figure
    assert "Grad-CAM * Z == ReLU(CAM) on layer4" in printed and printed.rstrip().endswith("OK")
    matplotlib.pyplot.close("all")
    run(chapter, "def make_resnet18")
    net = chapter["make_resnet18"]()
    assert net.fc.out_features == len(chapter["CLASSES"])
    assert torch.equal(
        net.layer4[1].conv2.weight, cached["layer4.1.conv2.weight"]
    )  # starts from them
    assert chapter["resnet_in"].fc.out_features == 1000  # a copy was changed
