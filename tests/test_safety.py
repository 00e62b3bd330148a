"""Every call leaves the model as it came; bad input gets an error with the problem and the fix."""

import gc
import warnings

import pytest
import torch
import torchvision
from conftest import TinyGap, seeded
from torch import nn

import camlib.methods as cm
from camlib import hooks

pytestmark = pytest.mark.usefixtures("one_thread")

CALLS = {
    "cam": lambda m, x, t=None: cm.cam(m, x, "features.3", "fc", t),
    "grad_cam": lambda m, x, t=None: cm.grad_cam(m, x, "features.3", t),
    "grad_cam_pp": lambda m, x, t=None: cm.grad_cam_pp(m, x, "features.3", t),
    "counterfactual": lambda m, x, t=None: cm.counterfactual(m, x, m.features[3], t),
    "guided_backprop": lambda m, x, t=None: cm.guided_backprop(m, x, t),
    "deconvnet": lambda m, x, t=None: cm.deconvnet(m, x, t),
    "guided_grad_cam": lambda m, x, t=None: cm.guided_grad_cam(m, x, "features.3", t),
}


def x32(n=2, size=6):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(3))


def gap32():
    return seeded(TinyGap, dtype=torch.float32)


def state(model):
    """Everything a call could change on a model."""
    return [
        (
            name,
            m.training,
            getattr(m, "inplace", None),
            "forward" in m.__dict__,
            len(m._forward_hooks)
            + len(m._forward_pre_hooks)
            + len(m._backward_hooks)
            + len(m._backward_pre_hooks),
            [(p.requires_grad, p.grad is None) for p in m.parameters(recurse=False)],
        )
        for name, m in model.named_modules()
    ]


def no_global_hooks():
    from torch.nn.modules import module

    return not (
        module._global_forward_hooks
        or module._global_forward_pre_hooks
        or module._global_backward_hooks
    )


@pytest.mark.parametrize("name", CALLS)
def test_model_comes_back_unchanged(name):
    model = gap32()
    model.features[0].train()  # mixed modes: both must survive
    model.features[2].weight.requires_grad_(False)
    model.features[1].inplace = True
    before = state(model)
    grad_mode = torch.is_grad_enabled()
    maps = CALLS[name](model, x32())
    assert state(model) == before and no_global_hooks()
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled() == grad_mode
    assert not maps.requires_grad and maps.dtype == torch.float32


@pytest.mark.parametrize("name", CALLS)
def test_model_comes_back_unchanged_after_an_error(name):
    model = gap32()
    before = state(model)
    with pytest.raises(ValueError, match="outside"):
        CALLS[name](model, x32(), 99)  # raises after the forward pass, with everything in place
    assert state(model) == before and no_global_hooks() and torch.is_grad_enabled()


def test_no_hook_left_when_the_layer_check_raises():
    model = gap32()
    before = state(model)
    with pytest.raises(ValueError, match="4-D"):
        cm.grad_cam(model, x32(), "fc")  # raises inside the hook, mid-forward
    assert state(model) == before and torch.is_grad_enabled()


def test_frozen_model_gives_the_same_maps():
    model, x = gap32(), x32()
    expected = {name: call(model, x, 1) for name, call in CALLS.items()}
    model.requires_grad_(False)
    for name, call in CALLS.items():
        assert torch.equal(call(model, x, 1), expected[name]), name
    assert not any(p.requires_grad for p in model.parameters())


def test_works_inside_no_grad_and_inference_mode():
    model, x = gap32(), x32()
    expected = {name: call(model, x) for name, call in CALLS.items()}
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            for name, call in CALLS.items():
                assert torch.equal(call(model, x), expected[name]), (context.__name__, name)
    assert torch.is_grad_enabled()


def test_resnet18_state_restored(resnet, resnet_images):
    before = state(resnet)
    inplace = [m.inplace for m in resnet.modules() if isinstance(m, nn.ReLU)]
    assert all(inplace)
    cm.guided_backprop(resnet, resnet_images)
    cm.deconvnet(resnet, resnet_images, torch.tensor([[0, 1], [2, 3]]))
    cm.grad_cam_pp(resnet, resnet_images, "layer4.1")
    cm.cam(resnet, resnet_images, "layer4", "fc")
    assert state(resnet) == before and no_global_hooks()


def test_memory_flat_over_500_calls():
    model, x = gap32(), x32()
    names = list(CALLS)

    def run(n):
        for i in range(n):
            CALLS[names[i % len(names)]](model, x)

    def count():
        gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # isinstance on some lazy torch objects warns
            objects = gc.get_objects()
            return len(objects), sum(isinstance(o, torch.Tensor) for o in objects)

    run(len(names) * 3)  # warm up caches
    objects, tensors = count()
    run(500)
    objects_after, tensors_after = count()
    assert tensors_after == tensors  # no tensor kept between calls
    assert objects_after - objects < 50  # no Python objects piling up either (500 calls)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda():
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval().cuda()
    x = torch.randn(2, 3, 64, 64, device="cuda")
    cpu = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    cpu.load_state_dict(model.state_dict())
    for method in (cm.grad_cam, cm.grad_cam_pp, cm.counterfactual):
        maps = method(model, x, "layer4", torch.tensor([[1, 2], [3, 4]], device="cuda"))
        assert (
            maps.device.type == "cuda"
            and maps.dtype == torch.float32
            and maps.shape == (2, 2, 2, 2)
        )
        assert torch.allclose(
            maps.cpu(), method(cpu, x.cpu(), "layer4", torch.tensor([[1, 2], [3, 4]])), atol=1e-4
        )
    assert cm.cam(model, x, "layer4", "fc").device.type == "cuda"
    for method in (cm.guided_backprop, cm.deconvnet):
        assert method(model, x, 3).device.type == "cuda"
    assert cm.guided_grad_cam(model, x, "layer4").device.type == "cuda"
    with pytest.raises(ValueError, match="images are on cpu but the model is on cuda"):
        cm.grad_cam(model, x.cpu(), "layer4")


# -------------------------------------------------------------- bad input ----


class NoReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 5)

    def forward(self, x):
        return self.fc(self.conv(self.conv(x)).mean(dim=(2, 3)))


class MapOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.unused = nn.Conv2d(5, 5, 1)

    def forward(self, x):
        return self.conv(x)


def _resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


X = x32()
BAD_INPUT = {
    # case: (call, exception, [problem..., fix...])
    "unknown layer name": (
        lambda: cm.grad_cam(_resnet(), X, "layer5"),
        ValueError,
        ["unknown layer name 'layer5'", "named_modules()", "'layer4'"],
    ),
    "layer from another model": (
        lambda: cm.grad_cam(gap32(), X, nn.Conv2d(3, 3, 1)),
        ValueError,
        ["not a module of this model", "pass a submodule"],
    ),
    "layer given as a number": (
        lambda: cm.grad_cam(gap32(), X, 3),
        TypeError,
        ["got int", "'layer4' or model.layer4"],
    ),
    "layer output not (N, C, h, w)": (
        lambda: cm.grad_cam(gap32(), X, "fc"),
        ValueError,
        ["layer 'fc' returned (2, 5), not a 4-D feature map", "pick a convolutional layer"],
    ),
    "layer that does not run": (
        lambda: cm.grad_cam(MapOut(), X, "unused", lambda out: out.sum(dim=(1, 2, 3))),
        ValueError,
        ["did not run", "pick a module that the forward pass calls"],
    ),
    "layer reused in one forward": (
        lambda: cm.grad_cam(Reused(), X, "conv"),
        ValueError,
        ["runs more than once", "hook a module that runs once"],
    ),
    "class >= num_classes": (
        lambda: cm.grad_cam(gap32(), X, "features.3", 5),
        ValueError,
        ["target class 5 is outside [0, 5)", "pass class indices from 0 to 4"],
    ),
    "negative class": (
        lambda: cm.cam(gap32(), X, "features.3", "fc", [1, -1]),
        ValueError,
        ["target class -1 is outside [0, 5)", "from 0 to 4"],
    ),
    "target length != N": (
        lambda: cm.grad_cam_pp(gap32(), X, "features.3", [1, 2, 3]),
        ValueError,
        ["target has shape (3,) for 2 images", "one class per image (length 2)", "(2, T)"],
    ),
    "float target tensor": (
        lambda: cm.grad_cam(gap32(), X, "features.3", torch.tensor([1.0, 2.0])),
        TypeError,
        ["integer class indices, got dtype torch.float32", "target.long()"],
    ),
    "images not a tensor": (
        lambda: cm.grad_cam(gap32(), X.tolist(), "features.3"),
        TypeError,
        ["images must be a torch.Tensor", "torch.stack"],
    ),
    "images 3-D": (
        lambda: cm.grad_cam(gap32(), X[0], "features.3"),
        ValueError,
        ["4-D tensor (N, C, H, W), got shape (3, 6, 6)", "images.unsqueeze(0)"],
    ),
    "images not float": (
        lambda: cm.guided_backprop(gap32(), (X * 100).to(torch.uint8)),
        TypeError,
        ["float tensor, got dtype torch.uint8", "images.float()"],
    ),
    "callable returns a scalar": (
        lambda: cm.grad_cam(gap32(), X, "features.3", lambda logits: logits[:, 0].sum()),
        ValueError,
        ["returned shape (), expected (2,)", "one score per image", "do not sum"],
    ),
    "callable returns (N, 1)": (
        lambda: cm.counterfactual(gap32(), X, "features.3", lambda logits: logits[:, :1]),
        ValueError,
        ["returned shape (2, 1), expected (2,)", "lambda logits: logits[:, 3]"],
    ),
    "callable returns a list": (
        lambda: cm.guided_backprop(gap32(), X, lambda logits: logits[:, 0].tolist()),
        TypeError,
        ["returned list, not a Tensor", "shape (N,)"],
    ),
    "score independent of the layer": (
        lambda: cm.grad_cam(gap32(), X, "features.3", lambda logits: torch.zeros(len(logits))),
        ValueError,
        ["does not depend on the output of layer 'features.3'", "pick a layer on the path"],
    ),
    "callable target for cam": (
        lambda: cm.cam(gap32(), X, "features.3", "fc", lambda logits: logits[:, 0]),
        TypeError,
        ["a callable target defines a score, not a class", "use grad_cam"],
    ),
    "cam fc not a classifier": (
        lambda: cm.cam(gap32(), X, "features.3", "features.2"),
        TypeError,
        ["an nn.Linear or a 1x1 nn.Conv2d, got Conv2d", "pass that module or its name"],
    ),
    "cam layer not the one fc pools": (
        lambda: cm.cam(gap32(), X, "features.1", "fc"),
        ValueError,
        ["fc maps 8 features to 5 classes, but the layer has 6 channels", "pass that layer"],
    ),
    "model output not logits": (
        lambda: cm.grad_cam(MapOut(), X, "conv"),
        ValueError,
        ["returned (2, 5, 6, 6), not logits (N, num_classes)", "wrap the model", "callable target"],
    ),
    "no nn.ReLU for guided backprop": (
        lambda: cm.guided_backprop(NoReLU(), X),
        ValueError,
        ["no nn.ReLU module", "build it with nn.ReLU modules"],
    ),
    "target with 3 axes": (
        lambda: cm.grad_cam(gap32(), X, "features.3", torch.zeros(2, 2, 2, dtype=torch.long)),
        ValueError,
        ["target has shape (2, 2, 2) for 2 images", "LongTensor (2, T)"],
    ),
    "bool target": (
        lambda: cm.grad_cam(gap32(), X, "features.3", True),
        TypeError,
        ["got bools", "pass ints or a LongTensor"],
    ),
    "ragged target list": (
        lambda: cm.grad_cam(gap32(), X, "features.3", [[1, 2], [3]]),
        TypeError,
        ["is not class indices", "a LongTensor (N,) or (N, T)"],
    ),
    "upsample of images-like input": (
        lambda: cm.upsample(torch.rand(6, 6), 12),
        ValueError,
        ["got (6, 6)", "pass the maps a method returned"],
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_names_problem_and_fix(case):
    call, exc, parts = BAD_INPUT[case]
    with pytest.raises(exc) as info:
        call()
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {info.value}"


def test_model_without_relu_modules_unchanged_after_error():
    model = NoReLU()
    before = state(model)
    with pytest.raises(ValueError):
        cm.deconvnet(model, X)
    assert state(model) == before


def test_resolve_accepts_modules_and_names(resnet):
    assert hooks.resolve(resnet, "layer4.1.conv2") is resnet.layer4[1].conv2
    assert hooks.resolve(resnet, resnet.layer3) is resnet.layer3


# ------------------------------------------- the CAM family after Grad-CAM++ ----

from camlib import family as fam  # noqa: E402

FAMILY = {
    "layer_cam": lambda m, x, t=None: fam.layer_cam(m, x, "features.3", t),
    "xgrad_cam": lambda m, x, t=None: fam.xgrad_cam(m, x, "features.3", t),
    "hires_cam": lambda m, x, t=None: fam.hires_cam(m, x, m.features[3], t),
    "score_cam": lambda m, x, t=None: fam.score_cam(m, x, "features.3", t, batch_size=5),
    "ablation_cam": lambda m, x, t=None: fam.ablation_cam(m, x, "features.3", t, batch_size=3),
    "eigen_cam": lambda m, x, t=None: fam.eigen_cam(m, x, "features.3"),
}


@pytest.mark.parametrize("name", FAMILY)
def test_family_model_comes_back_unchanged(name):
    model = gap32()
    model.features[0].train()
    model.features[2].weight.requires_grad_(False)
    model.features[1].inplace = True
    before = state(model)
    grad_mode = torch.is_grad_enabled()
    maps = FAMILY[name](model, x32())
    assert state(model) == before and no_global_hooks()
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled() == grad_mode
    assert not maps.requires_grad and maps.dtype == torch.float32 and maps.shape == (2, 6, 6)


@pytest.mark.parametrize("name", [n for n in FAMILY if n != "eigen_cam"])
def test_family_model_unchanged_after_an_error(name):
    model = gap32()
    before = state(model)
    with pytest.raises(ValueError, match="outside"):
        FAMILY[name](model, x32(), 99)
    assert state(model) == before and no_global_hooks() and torch.is_grad_enabled()


def test_family_unchanged_when_the_ablated_pass_raises():
    class Fails(nn.Module):  # runs fine once, then the network after the layer raises
        def __init__(self):
            super().__init__()
            self.net, self.calls = gap32(), 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 1:
                raise KeyError("boom")
            return self.net(x)

    model = Fails()
    before = state(model)
    with pytest.raises(KeyError):
        fam.ablation_cam(model, x32(), "net.features.3")
    assert state(model) == before and no_global_hooks()


def test_family_frozen_no_grad_and_inference_mode_give_the_same_maps():
    model, x = gap32(), x32()
    expected = {name: call(model, x, 1) for name, call in FAMILY.items()}
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            for name, call in FAMILY.items():
                assert torch.equal(call(model, x, 1), expected[name]), (context.__name__, name)
    model.requires_grad_(False)
    for name, call in FAMILY.items():
        assert torch.equal(call(model, x, 1), expected[name]), name
    assert torch.is_grad_enabled()


def test_family_resnet18_inplace_relus(resnet, resnet_images):
    before = state(resnet)
    for method in (fam.layer_cam, fam.xgrad_cam, fam.hires_cam, fam.ablation_cam):
        maps = method(resnet, resnet_images, "layer4", torch.tensor([[1, 2], [3, 4]]))
        assert maps.shape == (2, 2, 2, 2) and torch.isfinite(maps).all()
    # bn2's output gets `out += identity` in place: the maps must not see it
    assert torch.equal(
        fam.eigen_cam(resnet, resnet_images, "layer4.1.bn2"),
        fam.eigen_cam(resnet, resnet_images, "layer4.1.bn2"),
    )
    assert state(resnet) == before and no_global_hooks()


NAN = x32().index_put_(
    (torch.tensor([0]), torch.tensor([1]), torch.tensor([2])), torch.tensor(float("nan"))
)
FAMILY_BAD_INPUT = {
    "empty batch": (
        lambda f: f(gap32(), X[:0]),
        ["empty batch, shape (0, 3, 6, 6)", "pass at least one image"],
    ),
    "NaN in images": (
        lambda f: f(gap32(), NAN),
        ["NaN or infinity (6 of 216 values)", "torch.nan_to_num(images)"],
    ),
    "infinity in images": (lambda f: f(gap32(), X / 0), ["NaN or infinity", "preprocessing"]),
}


@pytest.mark.parametrize("name", [*FAMILY, "grad_cam", "guided_backprop", "cam"])
@pytest.mark.parametrize("case", FAMILY_BAD_INPUT)
def test_empty_and_non_finite_images_are_refused(case, name):
    call, parts = FAMILY_BAD_INPUT[case]
    with pytest.raises(ValueError) as info:
        call({**FAMILY, **CALLS}[name])
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {info.value}"


def test_family_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        fam.score_cam(gap32(), X, "features.3", batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        fam.ablation_cam(gap32(), X, "features.3", batch_size=2.5)


def test_family_memory_flat():
    model, x = gap32(), x32()
    names = list(FAMILY)

    def count():
        gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sum(isinstance(o, torch.Tensor) for o in gc.get_objects())

    for i in range(len(names) * 2):
        FAMILY[names[i % len(names)]](model, x)
    tensors = count()
    for i in range(30):
        FAMILY[names[i % len(names)]](model, x)
    assert count() == tensors
