"""ViT (Dosovitskiy et al.; timm's and Hugging Face's structures, small): a strided convolution
embeds patches, flattened and transposed to tokens (batch, tokens, features); a class token is
concatenated and position embeddings added; pre-norm blocks of multi-head self-attention
(Q·Kᵀ and A·V as MatMuls of two activations, scaled by Mul or Div, Softmax) and a GELU MLP
(Erf); the class token is gathered, normalised and classified. LayerNorm is the LayerNormalization
operator from opset 17, ReduceMean/Sub/Pow/Sqrt/Div before."""

from __future__ import annotations

import math

import torch
from torch import nn


class Attention(nn.Module):
    """`fused_qkv`: one Linear for Q, K and V split by reshape and index (timm) or three Linears
    (Hugging Face); `divide`: scores / √d (Hugging Face) or scores · d^−½ (timm)."""

    def __init__(self, dim: int, heads: int, fused_qkv: bool, divide: bool):
        super().__init__()
        self.heads, self.head_dim, self.fused, self.divide = heads, dim // heads, fused_qkv, divide
        if fused_qkv:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        batch, tokens, dim = x.shape
        if self.fused:
            qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q, k, v = (layer(x).view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)
                       for layer in (self.q, self.k, self.v))
        scores = q @ k.transpose(-2, -1)
        if self.divide:
            scores = scores / math.sqrt(self.head_dim)
        else:
            scores = scores * self.head_dim ** -0.5
        out = scores.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int, fused_qkv: bool, divide: bool):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, fused_qkv, divide)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, size: int = 32, patch: int = 4, dim: int = 64, depth: int = 2,
                 heads: int = 4, mlp: int = 128, classes: int = 10, fused_qkv: bool = True,
                 divide: bool = False):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp, fused_qkv, divide)
                                      for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])
