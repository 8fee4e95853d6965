"""BERT-style encoder (Hugging Face's BertModel structure, small) for sequence classification:
token, position and segment embeddings (Gather), LayerNorm, post-norm blocks of multi-head
self-attention on 3-D tokens (separate Q, K, V Linears as MatMul + Add, Q·Kᵀ / √d, Softmax,
A·V) and a GELU (Erf) feed-forward; a pooler (first token, Linear, Tanh) and a classifier."""

from __future__ import annotations

import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def split(self, x):
        return x.view(x.size(0), x.size(1), self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        context = torch.matmul(nn.functional.softmax(scores, dim=-1), v)
        context = context.permute(0, 2, 1, 3).contiguous()
        context = context.view(context.size(0), context.size(1), -1)
        return self.norm(self.dense(context) + x)


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int):
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.intermediate = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU())
        self.output = nn.Linear(intermediate, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x):
        x = self.attention(x)
        return self.norm(self.output(self.intermediate(x)) + x)


class Bert(nn.Module):
    def __init__(self, vocabulary: int = 1000, length: int = 32, hidden: int = 64, heads: int = 4,
                 layers: int = 2, intermediate: int = 128, classes: int = 2):
        super().__init__()
        self.word = nn.Embedding(vocabulary, hidden)
        self.position = nn.Embedding(length, hidden)
        self.segment = nn.Embedding(2, hidden)
        for table in (self.word, self.position, self.segment):
            nn.init.normal_(table.weight, std=0.02 * math.sqrt(hidden))
        self.register_buffer("position_ids", torch.arange(length).unsqueeze(0))
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.Sequential(*(Layer(hidden, heads, intermediate) for _ in range(layers)))
        self.pooler = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids, token_type_ids):
        positions = self.position_ids[:, :input_ids.size(1)]
        x = self.word(input_ids) + self.position(positions) + self.segment(token_type_ids)
        x = self.layers(self.norm(x))
        return self.classifier(self.pooler(x[:, 0]))
