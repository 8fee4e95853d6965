"""Recurrent classifiers of torch's stacked layers: `torch.nn.LSTM` (or `nn.GRU`), several
layers, batch first, optionally bidirectional — one ONNX LSTM (GRU) operator per layer, with
Transpose/Reshape/Squeeze between them."""

from __future__ import annotations

from torch import nn


class RecurrentClassifier(nn.Module):
    """Features (batch, steps, features) → `cell` ("LSTM" or "GRU", `layers` stacked, batch
    first, optionally bidirectional) → last step → Linear."""

    def __init__(self, features: int = 16, hidden: int = 32, classes: int = 4, layers: int = 2,
                 cell: str = "LSTM", bidirectional: bool = False):
        super().__init__()
        self.rnn = getattr(nn, cell)(features, hidden, layers, batch_first=True,
                                     bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])
