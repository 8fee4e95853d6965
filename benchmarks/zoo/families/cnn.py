"""The CNNs the compiler was written for, small: MobileNetV2-style (inverted residuals, ReLU6,
depthwise 3×3), VGG-style (3×3 convolutions, max pooling, two fully connected layers) and
ResNet-style (basic blocks, 1×1 stride-2 shortcuts, global average pooling)."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
            activation: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        layers = [conv_bn(cin, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   conv_bn(hidden, cout, 1, activation=None)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """`settings`: (expansion, channels, repeats, stride) per stage, as torchvision writes them."""

    def __init__(self, settings=((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 48, 1, 1)),
                 stem: int = 16, last: int = 64, classes: int = 10, stem_stride: int = 1):
        super().__init__()
        layers, channels = [conv_bn(3, stem, 3, stem_stride)], stem
        for expansion, cout, repeats, stride in settings:
            for index in range(repeats):
                layers.append(InvertedResidual(channels, cout, stride if index == 0 else 1,
                                               expansion))
                channels = cout
        layers.append(conv_bn(channels, last, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class VGG(nn.Module):
    """`layers`: channel counts of 3×3 convolutions and "M" for a 2×2 max pooling."""

    def __init__(self, layers=(16, "M", 32, "M", 64, 64, "M"), size: int = 32, hidden: int = 64,
                 classes: int = 10):
        super().__init__()
        modules, channels = [], 3
        for layer in layers:
            if layer == "M":
                modules.append(nn.MaxPool2d(2, 2))
                size //= 2
            else:
                modules += [nn.Conv2d(channels, layer, 3, padding=1), nn.BatchNorm2d(layer),
                            nn.ReLU(inplace=True)]
                channels = layer
        self.features = nn.Sequential(*modules)
        self.classifier = nn.Sequential(nn.Linear(channels * size * size, hidden), nn.ReLU(True),
                                        nn.Dropout(), nn.Linear(hidden, classes))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.reshape(x.size(0), -1))   # Shape/Gather/Concat/Reshape in ONNX


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride, activation=nn.ReLU)
        self.conv2 = conv_bn(cout, cout, 3, activation=None)
        self.shortcut = (conv_bn(cin, cout, 1, stride, activation=None)
                         if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet: a 3×3 stem, one stage per `stages` entry (channels, blocks, stride)."""

    def __init__(self, stages=((16, 1, 1), (32, 1, 2), (64, 2, 2)), classes: int = 10):
        super().__init__()
        layers, channels = [conv_bn(3, stages[0][0], 3, activation=nn.ReLU)], stages[0][0]
        for cout, blocks, stride in stages:
            for index in range(blocks):
                layers.append(BasicBlock(channels, cout, stride if index == 0 else 1))
                channels = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))
