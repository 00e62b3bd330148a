"""Tiny seeded models for camlib's tests: small enough that every test runs in milliseconds."""

import pytest
import torch
import torchvision
from torch import nn


class TinyGap(nn.Module):
    """conv -> ReLU -> conv -> ReLU -> GAP -> Linear; 'features.3' is the activation GAP pools."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class TinyConv(nn.Module):
    """conv1 -> ReLU -> conv2 -> ReLU -> flatten -> fc, hooked at 'relu1'.

    The fc layer has one weight per position, so dS/dA varies over positions
    (unlike a GAP head, where it is constant per channel).
    """

    def __init__(self, classes: int = 4, size: int = 6, inplace: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=inplace)
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=inplace)
        self.fc = nn.Linear(5 * size * size, classes)

    def forward(self, x):
        return self.fc(self.relu2(self.conv2(self.relu1(self.conv1(x)))).flatten(1))


class TinyHead1x1(nn.Module):
    """An ACoL-style head: conv -> ReLU -> 1x1 conv with one channel per class -> spatial mean."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(6, classes, 1)

    def forward(self, x):
        return self.cls(self.body(x)).mean(dim=(2, 3))


def seeded(cls, seed=0, dtype=torch.float64, **kwargs):
    torch.manual_seed(seed)
    return cls(**kwargs).to(dtype).eval()


@pytest.fixture
def gap():
    return seeded(TinyGap)


@pytest.fixture
def conv():
    return seeded(TinyConv)


@pytest.fixture
def images():
    """Four seeded 6x6 RGB images in float64 (the methods return float32)."""
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, 6, 6, generator=g, dtype=torch.float64)


@pytest.fixture
def resnet():
    """torchvision ResNet-18, no weights, eval mode: in-place ReLUs, each used twice per block."""
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.fixture
def resnet_images():
    g = torch.Generator().manual_seed(2)
    return torch.randn(2, 3, 64, 64, generator=g)


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and a shared machine does not stall them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyTwo(nn.Module):
    """A 2-channel net: stride-2 conv -> ReLU ('relu', 3x3 for 6x6 images) -> GAP -> Linear."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(2, classes)

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).mean(dim=(2, 3)))


class TinySkip(nn.Module):
    """conv -> ReLU ('relu') -> conv, plus a skip from the input around both -> flatten -> fc.

    The skip needs the input at full batch after the layer, so the empty-batch shortcut of
    hooks.split_at fails here and the slow path runs.
    """

    def __init__(self, classes: int = 4, size: int = 6):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 3, 3, padding=1)
        self.fc = nn.Linear(3 * size * size, classes)

    def forward(self, x):
        return self.fc((self.conv2(self.relu(self.conv1(x))) + x).relu().flatten(1))


class TinyTokens(nn.Module):
    """A token model: 2x2 patch embedding -> tokens, class token first -> 'block' (Linear)
    -> 'mlp' (Linear, ReLU, per token) -> head(mean of the patch tokens + class token)."""

    def __init__(self, classes: int = 4, dim: int = 5, patch: int = 2):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.block = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)  # (N, h*w, D), row-major patches
        t = torch.cat([self.cls_token.expand(len(x), -1, -1), t], dim=1)
        t = self.mlp(self.block(t))
        return self.head(t[:, 1:].mean(dim=1) + t[:, 0])
