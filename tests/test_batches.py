"""camlib runs a model in eval mode CHUNK images at a time: the same maps, scores and metrics as
one big batch, each image through the network once; a model in training mode gets its batch
whole (BatchNorm's statistics depend on the batch)."""

import pytest
import torch
from conftest import TinyConv, TinyGap, seeded
from torch import nn

import camlib
from camlib import acol, hooks, metrics, models, table


@pytest.fixture
def gap_and_images():
    torch.manual_seed(1)
    return seeded(TinyGap), torch.rand(11, 3, 8, 8, dtype=torch.float64)


def with_chunk(monkeypatch, chunk, fn):
    monkeypatch.setattr(hooks, "CHUNK", chunk)
    return fn()


def test_batches_split_in_eval_mode_and_keep_a_training_batch_whole(gap_and_images):
    model, _ = gap_and_images
    chunk = hooks.CHUNK
    n = 2 * chunk + 5
    assert hooks.batches(model, n) == [
        slice(0, chunk),
        slice(chunk, 2 * chunk),
        slice(2 * chunk, n),
    ]
    assert hooks.batches(model, 3) == [slice(0, 3)]
    model.fc.train()  # one module in training mode is enough
    assert hooks.batches(model, n) == [slice(0, n)]


class Gap(TinyGap):
    cam_layer, fc_layer = "features.3", "fc"


@pytest.mark.parametrize("label", [k for k, m in table.METHODS.items() if m.requires != "acol"])
def test_every_method_gives_one_batch_maps_in_slices(monkeypatch, label):
    """Every method of the table (ACoL needs its own network: tested below)."""
    model = seeded(Gap)
    torch.manual_seed(1)
    x, target = torch.rand(11, 3, 8, 8, dtype=torch.float64), torch.arange(11) % 5

    def run():
        return table.compute(label, model, x, target=target)

    whole = with_chunk(monkeypatch, 1000, run)
    sliced = with_chunk(monkeypatch, 4, run)  # 11 images: slices of 4, 4 and 3
    torch.testing.assert_close(sliced, whole, rtol=0, atol=1e-6)


def test_slices_serve_a_callable_target_the_whole_batch(monkeypatch, gap_and_images):
    """The score is taken on the joined logits, so a target that indexes all N rows works."""
    model, x = gap_and_images
    pick = torch.tensor([4, 0, 1, 2, 3, 0, 1, 2, 3, 4, 0])

    def run():
        return camlib.grad_cam(
            model, x, "features.3", target=lambda z: z.gather(1, pick[:, None])[:, 0]
        )

    whole = with_chunk(monkeypatch, 1000, run)
    sliced = with_chunk(monkeypatch, 3, run)
    torch.testing.assert_close(sliced, whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(sliced, camlib.grad_cam(model, x, "features.3", target=pick))


def test_several_classes_and_input_gradients_in_slices(monkeypatch):
    model = seeded(TinyConv)
    torch.manual_seed(2)
    x = torch.rand(7, 3, 6, 6, dtype=torch.float64)
    two = torch.stack([torch.arange(7) % 4, (torch.arange(7) + 1) % 4], dim=1)  # (7, 2)
    for fn in (
        lambda: camlib.grad_cam(model, x, "relu1", target=two),
        lambda: camlib.guided_backprop(model, x, target=two),
        lambda: hooks.input_gradients(model, x, two),
    ):
        whole = with_chunk(monkeypatch, 1000, fn)
        sliced = with_chunk(monkeypatch, 2, fn)
        assert sliced.shape[:2] == (7, 2)
        torch.testing.assert_close(sliced, whole, rtol=0, atol=1e-12)


def test_each_image_goes_through_the_network_once(monkeypatch, gap_and_images):
    model, x = gap_and_images
    seen = []
    handle = model.features[0].register_forward_hook(lambda m, i, o: seen.append(len(o)))
    try:
        with_chunk(monkeypatch, 4, lambda: camlib.grad_cam_pp(model, x, "features.3"))
    finally:
        handle.remove()
    assert seen == [4, 4, 3]


def test_a_training_mode_model_sees_its_whole_batch(monkeypatch):
    """In training mode BatchNorm normalizes by the batch: slicing would change every map."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).double()
    x = torch.rand(9, 3, 6, 6, dtype=torch.float64)
    seen = []
    handle = model[0].register_forward_hook(lambda m, i, o: seen.append(len(o)))
    try:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        whole = camlib.grad_cam(model, x, "2", target=0)  # model in training mode
        model.load_state_dict(state)  # undo the running statistics' update
        sliced = with_chunk(monkeypatch, 2, lambda: camlib.grad_cam(model, x, "2", target=0))
    finally:
        handle.remove()
    assert seen == [9, 9]
    torch.testing.assert_close(sliced, whole, rtol=0, atol=0)


def test_metrics_and_accuracy_in_slices(monkeypatch, gap_and_images):
    model, x = gap_and_images
    maps = torch.rand(11, 8, 8, dtype=torch.float64)
    labels = torch.arange(11) % 5

    def run():
        d = metrics.deletion_auc(model, x, maps, labels, steps=4, batch_size=hooks.CHUNK)
        a = metrics.average_drop_increase(model, x, maps, labels)
        return torch.tensor([d.auc, a.average_drop, models.accuracy(model, x, labels)])

    torch.testing.assert_close(with_chunk(monkeypatch, 3, run), with_chunk(monkeypatch, 1000, run))


def test_acol_maps_do_not_depend_on_the_slice_size():
    torch.manual_seed(4)
    net = models.build("acol").eval()
    x = torch.rand(5, 3, 64, 64)
    one, all_five = acol.class_maps(net, x, batch=2), acol.class_maps(net, x, batch=5)
    for key in ("fused", "a", "b", "logits_a"):
        torch.testing.assert_close(one[key], all_five[key], rtol=0, atol=1e-5)
