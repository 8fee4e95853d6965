"""Transformer encoders as users build them from torch's own modules rather than written out:
`torch.nn.TransformerEncoder` of `nn.TransformerEncoderLayer` (its export: in-projection as one
Linear whose output is sliced into Q, K, V, heads folded into the batch axis by
Reshape/Transpose, the scale on Q and Kᵀ each as √scale, Softmax, A·V; post- or pre-norm, ReLU or
GELU), and a torchvision-style ViT whose blocks call `nn.MultiheadAttention` directly."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


@contextlib.contextmanager
def _exportable():
    """Off: torch's fused attention kernels (`_transformer_encoder_layer_fwd`,
    `_native_multi_head_attention`), which a batch-first layer in eval mode without gradients
    calls and which no ONNX exporter knows: the export then writes the layer's operations."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


class EncoderClassifier(nn.Module):
    """Token ids (batch, length) → Embedding + learned positions → `nn.TransformerEncoder`
    (`layers` × `nn.TransformerEncoderLayer(dim, heads, feedforward, activation,
    batch_first, norm_first)`) → mean over tokens (or the first token) → Linear."""

    def __init__(self, vocabulary: int = 1000, length: int = 32, dim: int = 64, heads: int = 4,
                 feedforward: int = 128, layers: int = 2, classes: int = 4,
                 activation: str = "relu", batch_first: bool = False, norm_first: bool = False,
                 pool: str = "mean"):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, dim)
        nn.init.normal_(self.embed.weight, std=0.02 * math.sqrt(dim))
        self.position = nn.Parameter(torch.randn(1, length, dim) * 0.02 * math.sqrt(dim))
        layer = nn.TransformerEncoderLayer(dim, heads, feedforward, dropout=0.1,
                                           activation=activation, batch_first=batch_first,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.batch_first, self.pool = batch_first, pool
        self.head = nn.Linear(dim, classes)

    def forward(self, ids):
        x = self.embed(ids) + self.position[:, :ids.shape[1]]
        if not self.batch_first:
            x = x.transpose(0, 1)
        with _exportable():
            x = self.encoder(x)
        if not self.batch_first:
            x = x.transpose(0, 1)
        return self.head(x.mean(1) if self.pool == "mean" else x[:, 0])


class MLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int, approximate: str):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(approximate=approximate),
                         nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))


class EncoderBlock(nn.Module):
    """torchvision's ViT block: LayerNorm, `nn.MultiheadAttention(batch_first=True)` called with
    need_weights=False, residual; LayerNorm, MLP (GELU), residual."""

    def __init__(self, dim: int, heads: int, mlp: int, approximate: str):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, mlp, approximate)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class TorchvisionViT(nn.Module):
    """torchvision's VisionTransformer, small: a patch Conv, class token, position embedding,
    `EncoderBlock`s, LayerNorm, the class token's Linear head. `approximate` "tanh" gives GELU's
    tanh form."""

    def __init__(self, size: int = 32, patch: int = 4, dim: int = 64, depth: int = 2,
                 heads: int = 4, mlp: int = 128, classes: int = 10, approximate: str = "none"):
        super().__init__()
        self.patch, self.dim = patch, dim
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        tokens = (size // patch) ** 2 + 1
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*(EncoderBlock(dim, heads, mlp, approximate)
                                      for _ in range(depth)))
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
        with _exportable():
            x = self.ln(self.layers(x))
        return self.head(x[:, 0])
