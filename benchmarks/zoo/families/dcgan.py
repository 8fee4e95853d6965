"""DCGAN generator (Radford et al.; the PyTorch DCGAN example's structure, small): a latent
vector (batch, nz, 1, 1) through stride-1 then stride-2 4×4 transposed convolutions with batch
norm and ReLU, doubling the resolution each time, and Tanh on the image."""

from __future__ import annotations

from torch import nn


class Generator(nn.Module):
    def __init__(self, latent: int = 32, width: int = 16, channels: int = 3, size: int = 32):
        super().__init__()
        doublings = (size // 4).bit_length() - 1
        widths = [width * 2 ** (doublings - i) for i in range(doublings)]
        layers = [nn.ConvTranspose2d(latent, widths[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)
