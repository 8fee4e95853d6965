"""U-Net (Ronneberger et al.; the structure of the widely used PyTorch-UNet, small): double 3×3
convolutions, max-pooling encoder, a decoder that up-samples — by stride-2 transposed
convolutions (2×2; 3×3 with output padding; 4×4) or by bilinear Resize —, pads to the skip
connection's size and concatenates the two branches of different scales along the channels; a
1×1 convolution gives per-pixel logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, middle: int | None = None):
        middle = middle or cout
        super().__init__(nn.Conv2d(cin, middle, 3, padding=1, bias=False), nn.BatchNorm2d(middle),
                         nn.ReLU(inplace=True), nn.Conv2d(middle, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


#: (padding, output padding) of a stride-2 transposed convolution that doubles the size, by kernel
DOUBLING = {2: (0, 0), 3: (1, 1), 4: (1, 0)}


class Up(nn.Module):
    def __init__(self, cin: int, cout: int, bilinear: bool, kernel: int, mode: str = "bilinear",
                 align_corners: bool | None = True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode=mode, align_corners=align_corners)
            self.conv = DoubleConv(cin, cout, cin // 2)
        else:
            padding, output_padding = DOUBLING[kernel]
            self.up = nn.ConvTranspose2d(cin, cin // 2, kernel, 2, padding, output_padding)
            self.conv = DoubleConv(cin, cout)

    def forward(self, low, skip):
        low = self.up(low)
        dy, dx = skip.size()[2] - low.size()[2], skip.size()[3] - low.size()[3]
        low = F.pad(low, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, low], dim=1))


class UNet(nn.Module):
    """`widths`: channels per level, top first; `bilinear` up-samples by Resize instead of
    ConvTranspose (and halves the bottom level's width, as PyTorch-UNet does); `kernel`: the
    transposed convolutions' kernel (2, or 3 with output padding, or 4); `mode` and
    `align_corners`: the Resize's (`nn.Upsample`'s), where `bilinear`."""

    def __init__(self, channels: int = 3, classes: int = 2, widths=(16, 32, 64),
                 bilinear: bool = False, kernel: int = 2, mode: str = "bilinear",
                 align_corners: bool | None = True):
        super().__init__()
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(widths[i], widths[i + 1] // (
                factor if i + 1 == len(widths) - 1 else 1)))
            for i in range(len(widths) - 1))
        ups = []
        for level in range(len(widths) - 1, 0, -1):
            cout = widths[level - 1] // (factor if level > 1 else 1)
            ups.append(Up(widths[level], cout, bilinear, kernel, mode, align_corners))
        self.ups = nn.ModuleList(ups)
        self.outc = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)
