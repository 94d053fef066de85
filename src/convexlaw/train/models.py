"""Models with one size knob each (``size``), spanning well over 100× in parameters.

==========  =====================  ======================  ==================================
model       ``size``               ``depth`` (default)     parameters (28×28 images / bytes)
==========  =====================  ======================  ==================================
``mlp``     hidden width           hidden layers (2)       size 8: 6.4 k … size 1024: 1.86 M
``cnn``     base channels          blocks per stage (1)    size 4: 1.4 k … size 64: 306 k
``gpt``     embedding width d      transformer blocks (2)  size 16: 11.7 k … size 256: 1.66 M
==========  =====================  ======================  ==================================

``cnn`` is a small ResNet: a 3×3 stem, a residual stage at ``size`` channels, a strided
stage at ``2·size``, global average pooling and a linear head. ``gpt`` is a byte-level
nanoGPT: token + learned position embeddings, pre-norm blocks with causal attention
(``F.scaled_dot_product_attention``) and a 4·d GELU MLP, the head tied to the embedding.

Every model marks the parameters that Muon must not touch (embeddings, the output head,
the input layer) by listing them in ``model.non_hidden``; see ``optim.py``.

Example::

    >>> m = build_model("mlp", 256, in_shape=(1, 28, 28), classes=10)
    >>> param_count(m)
    269322
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MODELS = ("mlp", "cnn", "gpt")
IMAGE_MODELS = ("mlp", "cnn")
TEXT_MODELS = ("gpt",)
DEFAULT_DEPTH = {"mlp": 2, "cnn": 1, "gpt": 2}


def param_count(model: nn.Module) -> int:
    """N: the number of trainable parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class MLP(nn.Module):
    def __init__(self, in_features: int, width: int, depth: int, classes: int) -> None:
        super().__init__()
        dims = [in_features] + [width] * depth
        pairs = zip(dims[:-1], dims[1:], strict=True)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.head = nn.Linear(dims[-1], classes)
        self.non_hidden = [self.hidden[0].weight, self.head.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.head(x)


class Block(nn.Module):
    """Pre-activation-free basic residual block: conv-BN-ReLU-conv-BN + skip, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = None
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.skip is None else self.skip(x)))


class ResNet(nn.Module):
    def __init__(self, in_channels: int, width: int, depth: int, classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        blocks = [Block(width, width, 1) for _ in range(depth)]
        blocks += [Block(width, 2 * width, 2)] + [Block(2 * width, 2 * width, 1)
                                                  for _ in range(depth - 1)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * width, classes)
        self.non_hidden = [self.stem[0].weight, self.head.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """Byte-level causal transformer; heads of width 32 (one head when d < 64)."""

    def __init__(self, width: int, depth: int, context: int, vocab: int = 256) -> None:
        super().__init__()
        heads = max(1, width // 32)
        if width % heads:
            raise ValueError(f"gpt width {width} must be a multiple of {heads} heads")
        self.context = context
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(GPTBlock(width, heads) for _ in range(depth))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tok.weight  # weight tying, as in GPT-2 / nanoGPT
        self.non_hidden = [self.tok.weight, self.pos.weight]
        self.apply(self._init)
        # GPT-2's scaled init of the residual projections keeps the stream's variance flat
        for name, p in self.named_parameters():
            if name.endswith(("proj.weight", "out.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * depth))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.context:
            raise ValueError(f"sequence of {t} bytes exceeds the context {self.context}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def build_model(name: str, size: int, depth: int | None = None, *,
                in_shape: tuple[int, ...] = (1, 28, 28), classes: int = 10,
                context: int = 64, vocab: int = 256) -> nn.Module:
    """Build ``name`` at ``size`` (see the table above); seed torch before calling."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"model size must be a positive integer, got {size!r}")
    depth = DEFAULT_DEPTH[name] if depth is None else depth
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"model depth must be a positive integer, got {depth!r}")
    if name == "mlp":
        return MLP(math.prod(in_shape), size, depth, classes)
    if name == "cnn":
        return ResNet(in_shape[0], size, depth, classes)
    return GPT(size, depth, context, vocab)


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats (per sample for images, per byte for text)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
