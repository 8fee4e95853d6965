"""ConvNeXt (Liu et al.; the reference implementation's structure, small): a 4×4 stride-4
patchify stem, blocks of a 7×7 depthwise convolution, Transpose to channels-last, LayerNorm,
pointwise Linears (MatMul on 4-D tensors) around GELU (Erf), a layer-scale Mul, Transpose back
and a residual Add; between stages a channels-first LayerNorm written out as ReduceMean, Sub,
Pow, Sqrt and Div, and a 2×2 stride-2 convolution; global ReduceMean, LayerNorm, Linear."""

from __future__ import annotations

import torch
from torch import nn


class ChannelsFirstLayerNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        variance = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(variance + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Block(nn.Module):
    def __init__(self, dim: int, layer_scale: float = 0.5):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act = nn.Linear(dim, 4 * dim), nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, depths=(1, 1), dims=(32, 64), classes: int = 10):
        super().__init__()
        self.stages = nn.ModuleList()
        for index, (depth, dim) in enumerate(zip(depths, dims)):
            if index == 0:
                down = nn.Sequential(nn.Conv2d(3, dim, 4, 4), ChannelsFirstLayerNorm(dim))
            else:
                down = nn.Sequential(ChannelsFirstLayerNorm(dims[index - 1]),
                                     nn.Conv2d(dims[index - 1], dim, 2, 2))
            self.stages.append(nn.Sequential(down, *(Block(dim) for _ in range(depth))))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return self.head(self.norm(x.mean([-2, -1])))
