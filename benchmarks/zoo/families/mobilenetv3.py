"""MobileNetV3-style (torchvision's structure, small): HardSwish activations, squeeze-excite
gates (global pooling, 1×1 convolutions, HardSigmoid, Mul of two activations), 3×3 and 5×5
depthwise convolutions. At opset 13 HardSwish is exported as HardSigmoid and Mul; from 14 on as
the HardSwish operator."""

from __future__ import annotations

import torch
from torch import nn


def _divisible(channels: float, divisor: int = 8) -> int:
    value = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return value + divisor if value < 0.9 * channels else value


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        squeezed = _divisible(channels // 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class Bottleneck(nn.Module):
    def __init__(self, cin, kernel, expanded, cout, squeeze_excite, hard_swish, stride):
        super().__init__()
        activation = nn.Hardswish if hard_swish else nn.ReLU
        layers = []
        if expanded != cin:
            layers += [nn.Conv2d(cin, expanded, 1, bias=False), nn.BatchNorm2d(expanded),
                       activation()]
        layers += [nn.Conv2d(expanded, expanded, kernel, stride, kernel // 2, groups=expanded,
                             bias=False), nn.BatchNorm2d(expanded), activation()]
        if squeeze_excite:
            layers.append(SqueezeExcite(expanded))
        layers += [nn.Conv2d(expanded, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


#: (kernel, expanded, out, squeeze-excite, hard swish, stride), torchvision's "small" rows cut down
SMALL = ((3, 16, 16, True, False, 2), (3, 48, 24, False, False, 2), (3, 64, 24, False, False, 1),
         (5, 96, 40, True, True, 2), (5, 120, 40, True, True, 1), (5, 120, 48, True, True, 1))


class MobileNetV3(nn.Module):
    def __init__(self, settings=SMALL, stem: int = 16, last: int = 96, hidden: int = 128,
                 classes: int = 10):
        super().__init__()
        layers = [nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.Hardswish()]
        channels = stem
        for kernel, expanded, cout, squeeze_excite, hard_swish, stride in settings:
            layers.append(Bottleneck(channels, kernel, expanded, cout, squeeze_excite, hard_swish,
                                     stride))
            channels = cout
        layers += [nn.Conv2d(channels, last, 1, bias=False), nn.BatchNorm2d(last), nn.Hardswish()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(last, hidden), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(hidden, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
