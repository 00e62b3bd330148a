"""A small vision transformer for ToyPets, written plainly in torch (chapter 13).

    image 64x64 -> 8x8 patches of 8x8 px -> 64 patch tokens of `dim` channels
    -> a class token in front, learned position embeddings added -> `depth` pre-norm blocks
       (multi-head self-attention, then an MLP, each with a residual) -> LayerNorm of the class
       token alone -> a linear classifier.

Two patch embeddings (`stem`): "patch", one linear map of each patch's pixels (a stride-8 conv,
Dosovitskiy et al., ICLR 2021); "gap", the hybrid of the same paper (its section 3.1): the tokens
are the GAP network's conv feature map (frozen), average-pooled to the 8x8 grid and mapped by a
1x1 conv, so token (i, j) still stands for the 8x8-px patch (i, j), seen with the backbone's wider
receptive field. The shipped `vit` is the hybrid: trained from scratch on ToyPets' few thousand
images, the pixel-patch version stays at chance in the few minutes of CPU a recipe may take
(transformers without a conv stem need far more data or steps).

Every block returns tokens (N, 1 + 64, dim): the class token first, then the patches in
row-major order, so camlib reads block i as maps (N, dim, 8, 8) with
`camlib.grad_cam(vit, images, "blocks.i", reshape=vit.grid)`.

The score reads only the class token of the last block's output, so the gradient of any score
with respect to the patch tokens of that output is exactly zero: read an earlier block.
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention: softmax(q k^T / sqrt(d)) v per head, then a projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, t):
        N, T, D = t.shape
        q, k, v = self.qkv(t).reshape(N, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) * (D // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(N, T, D))


class Block(nn.Module):
    """A pre-norm transformer block: t + attn(norm1(t)), then t + mlp(norm2(t))."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, t):
        t = t + self.attn(self.norm1(t))
        return t + self.mlp(self.norm2(t))


class ViT(nn.Module):
    """Patch embedding, class token, `depth` blocks, classifier on the class token.

    `grid` is the patch grid (h, w) to pass as `reshape=`; `layers` names every block's output;
    `cam_layer` is the input of the last block (the last block's own output gives an all-zero
    map, see the module docstring); chapter 13 chooses the block by a metric.
    """

    def __init__(
        self,
        num_classes: int = 4,
        size: int = 64,
        patch: int = 8,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        hidden: int = 128,
        stem: str = "patch",
    ):
        super().__init__()
        if size % patch:
            raise ValueError(f"image size {size} is not a multiple of the patch size {patch}")
        if stem not in ("patch", "gap"):
            raise ValueError(f"unknown stem {stem!r}; choose 'patch' or 'gap'")
        self.grid = (size // patch, size // patch)
        tokens = 1 + self.grid[0] * self.grid[1]
        self.stem = stem
        if stem == "patch":  # one linear map of each 8x8-px patch's pixels (Dosovitskiy et al.)
            self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        else:  # hybrid: the GAP network's conv backbone, frozen; its map pooled to the grid
            from .models import WIDTHS, backbone

            self.features = backbone()
            self.features.requires_grad_(False)
            self.embed = nn.Sequential(
                nn.AdaptiveAvgPool2d(self.grid), nn.Conv2d(WIDTHS[-1], dim, 1)
            )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.layers = {f"block {i}": f"blocks.{i}" for i in range(depth)}
        self.cam_layer = f"blocks.{depth - 2}" if depth > 1 else "embed"
        self.fc_layer = None

    def train(self, mode: bool = True):
        """As nn.Module.train, but a frozen backbone stays in eval mode (BatchNorm's statistics)."""
        super().train(mode)
        if self.stem == "gap":
            self.features.eval()
        return self

    def tokens(self, x):
        """The tokens that enter the first block: (N, 1 + h*w, dim), class token first."""
        x = self.features(x) if self.stem == "gap" else x
        t = self.embed(x).flatten(2).transpose(1, 2)  # (N, h*w, dim), patches row-major
        t = torch.cat([self.cls_token.expand(len(x), -1, -1), t], dim=1)
        return t + self.pos

    def forward(self, x):
        t = self.blocks(self.tokens(x))
        return self.head(self.norm(t[:, 0]))
