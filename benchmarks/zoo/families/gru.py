"""GRU sequence classifiers, in the two forms real exports take: `GRUCellClassifier` unrolls a
hand-written cell (PyTorch's GRUCell equations) over the time steps — per step Gather of the
input, Gemm, Slice of the gates, Sigmoid, Tanh, Sub, Mul, Add; `GRUClassifier` runs
`torch.nn.GRU` (batch first, on embedded token ids or on features; stacked, bidirectional),
which exports as ONNX GRU operators."""

from __future__ import annotations

import torch
from torch import nn


class GRUCell(nn.Module):
    """r = σ(W_ir x + W_hr h), z = σ(W_iz x + W_hz h), n = tanh(W_in x + r ⊙ (W_hn h)),
    h' = (1 − z) ⊙ n + z ⊙ h (biases in the Linears)."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.input_gates = nn.Linear(inputs, 3 * hidden)
        self.hidden_gates = nn.Linear(hidden, 3 * hidden)

    def forward(self, x, h):
        xr, xz, xn = self.input_gates(x).chunk(3, dim=1)
        hr, hz, hn = self.hidden_gates(h).chunk(3, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h


class GRUCellClassifier(nn.Module):
    """Input (batch, steps, features), batch first; the last hidden state is classified."""

    def __init__(self, features: int = 16, hidden: int = 32, steps: int = 16, classes: int = 5):
        super().__init__()
        self.hidden, self.steps = hidden, steps
        self.cell = GRUCell(features, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        h = torch.zeros(x.shape[0], self.hidden)
        for step in range(self.steps):
            h = self.cell(x[:, step], h)
        return self.head(h)


class GRUClassifier(nn.Module):
    """Token ids (batch, steps) → Embedding → nn.GRU (batch first) → last step → Linear; or,
    without a vocabulary, float features (batch, steps, features) straight into the GRU.
    `layers` stacked GRU operators, each `bidirectional` or not."""

    def __init__(self, vocabulary: int | None = 500, embedding: int = 32, hidden: int = 48,
                 classes: int = 3, layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, embedding) if vocabulary else nn.Identity()
        self.gru = nn.GRU(embedding, hidden, layers, batch_first=True,
                          bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):
        out, _ = self.gru(self.embed(x))
        return self.head(out[:, -1])
