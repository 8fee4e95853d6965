"""YOLO-style detector (YOLOv3-tiny's backbone and two heads, YOLOv5's box decoding, small):
3×3 convolutions with batch norm and LeakyRelu(0.1), 2×2 max pooling (the last one stride 1
after a one-sided zero pad), a 1×1 lateral convolution, nearest ×2 Resize and Concat into the
finer head; each head's output is reshaped to (batch, anchors × cells, 5 + classes), passed
through Sigmoid and decoded with the cell grid and anchors (Slice, Mul, Add, Pow, Concat)."""

from __future__ import annotations

import torch
from torch import nn


def conv(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, 1, kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


class Detect(nn.Module):
    """One head's decoding: sigmoid, then xy = (2σ − 0.5 + grid) · stride and
    wh = (2σ)² · anchor."""

    def __init__(self, cin: int, anchors, classes: int, stride: int, size: int):
        super().__init__()
        self.anchors, self.outputs, self.stride, self.size = len(anchors), 5 + classes, stride, size
        self.conv = nn.Conv2d(cin, self.anchors * self.outputs, 1)
        y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        grid = torch.stack((x, y), 2).float().view(1, 1, size, size, 2)
        self.register_buffer("grid", grid.expand(1, self.anchors, size, size, 2).reshape(1, -1, 2))
        anchor = torch.tensor(anchors, dtype=torch.float32).view(1, self.anchors, 1, 1, 2)
        self.register_buffer("anchor",
                             anchor.expand(1, self.anchors, size, size, 2).reshape(1, -1, 2))

    def forward(self, x):
        x = self.conv(x).view(x.shape[0], self.anchors, self.outputs, self.size, self.size)
        x = x.permute(0, 1, 3, 4, 2).reshape(x.shape[0], -1, self.outputs).sigmoid()
        xy = (x[..., 0:2] * 2 - 0.5 + self.grid) * self.stride
        wh = (x[..., 2:4] * 2) ** 2 * self.anchor
        return torch.cat((xy, wh, x[..., 4:]), -1)


class TinyYolo(nn.Module):
    def __init__(self, size: int = 64, widths=(16, 32, 64, 64, 64), classes: int = 4,
                 anchors=(((10, 14), (23, 27), (37, 58)), ((81, 82), (135, 169), (344, 319)))):
        super().__init__()
        layers, channels = [], 3
        for index, width in enumerate(widths[:-1]):
            layers += [conv(channels, width), nn.MaxPool2d(2, 2)]
            channels = width
        self.backbone = nn.Sequential(*layers[:-1])           # stride 8 features (the route)
        self.down = nn.MaxPool2d(2, 2)
        self.deep = nn.Sequential(conv(channels, widths[-1]), nn.ZeroPad2d((0, 1, 0, 1)),
                                  nn.MaxPool2d(2, 1), conv(widths[-1], widths[-1]))
        self.neck = conv(widths[-1], widths[-1] // 2, 1)
        self.lateral = nn.Sequential(conv(widths[-1] // 2, widths[-1] // 4, 1),
                                     nn.Upsample(scale_factor=2, mode="nearest"))
        self.fine = conv(widths[-1] // 4 + channels, widths[-1])
        stride = 2 ** (len(widths) - 1)
        self.coarse_head = Detect(widths[-1] // 2, anchors[1], classes, stride, size // stride)
        self.fine_head = Detect(widths[-1], anchors[0], classes, stride // 2, 2 * size // stride)

    def forward(self, x):
        route = self.backbone(x)
        neck = self.neck(self.deep(self.down(route)))
        fine = self.fine(torch.cat([self.lateral(neck), route], 1))
        return torch.cat([self.coarse_head(neck), self.fine_head(fine)], 1)


def conv_silu(cin: int, cout: int, kernel: int = 1, stride: int = 1,
              padding: int | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride,
                                   kernel // 2 if padding is None else padding, bias=False),
                         nn.BatchNorm2d(cout), nn.SiLU())


class C3(nn.Module):
    """YOLOv5's CSP block: two 1×1 branches, one through residual bottlenecks, concatenated."""

    def __init__(self, cin: int, cout: int, shortcut: bool = True):
        super().__init__()
        hidden = cout // 2
        self.cv1, self.cv2 = conv_silu(cin, hidden), conv_silu(cin, hidden)
        self.m1, self.m2 = conv_silu(hidden, hidden), conv_silu(hidden, hidden, 3)
        self.shortcut = shortcut
        self.cv3 = conv_silu(2 * hidden, cout)

    def forward(self, x):
        y = self.cv1(x)
        y = y + self.m2(self.m1(y)) if self.shortcut else self.m2(self.m1(y))
        return self.cv3(torch.cat((y, self.cv2(x)), 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5×5 stride-1 max poolings, concatenated."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.cv1, self.cv2 = conv_silu(cin, cin // 2), conv_silu(cin * 2, cout)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat((x, y1, y2, self.pool(y2)), 1))


class YoloV5(nn.Module):
    """YOLOv5 (v6.0 layout, cut down): 6×6 stride-2 stem, stride-2 3×3 convolutions, C3 blocks,
    SPPF, SiLU (Sigmoid·Mul), a nearest ×2 upsample concatenated with the stride-8 features, and
    two Detect heads."""

    def __init__(self, size: int = 64, widths=(16, 32, 64), classes: int = 4,
                 anchors=(((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)))):
        super().__init__()
        a, b, c = widths
        self.stem = conv_silu(3, a, 6, 2, 2)
        self.stage2 = nn.Sequential(conv_silu(a, b, 3, 2), C3(b, b))
        self.stage3 = nn.Sequential(conv_silu(b, c, 3, 2), C3(c, c))
        self.stage4 = nn.Sequential(conv_silu(c, c, 3, 2), C3(c, c), SPPF(c, c))
        self.lateral = conv_silu(c, b)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = C3(b + c, c, shortcut=False)
        self.down = conv_silu(c, b, 3, 2)
        self.deep = C3(2 * b, c, shortcut=False)
        self.fine_head = Detect(c, anchors[0], classes, 8, size // 8)
        self.coarse_head = Detect(c, anchors[1], classes, 16, size // 16)

    def forward(self, x):
        p3 = self.stage3(self.stage2(self.stem(x)))
        lateral = self.lateral(self.stage4(p3))
        fine = self.fuse(torch.cat((self.up(lateral), p3), 1))
        coarse = self.deep(torch.cat((self.down(fine), lateral), 1))
        return torch.cat([self.fine_head(fine), self.coarse_head(coarse)], 1)
