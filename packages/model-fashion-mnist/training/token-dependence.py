#!/usr/bin/env python3
"""How dependent the tokens of one scale are, given the class and the coarser scale before it, in a
token cache that `nextscale train var` wrote (var3/tokens-*.safetensors: the training images' token
maps). A VAR draws the tokens of one scale independently of each other; what they share is what it
loses. Prints, per pair of 2x2 tokens, the plug-in mutual information given (class, 1x1 token), the
same with one token shuffled within each (class, 1x1 token) group (the estimator's bias), and their
difference. Numpy only:
    /usr/bin/python3 packages/model-fashion-mnist/training/token-dependence.py var3/tokens-….safetensors
"""
import json
import struct
import sys

import numpy as np

raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8 : 8 + n])


def tensor(key):
    v = header[key]
    a, b = v["data_offsets"]
    assert v["dtype"] == "I32", v
    return np.frombuffer(raw[8 + n + a : 8 + n + b], np.int32).reshape(v["shape"])


labels = tensor("labels")
s1, s2 = tensor("scale.0")[:, 0], tensor("scale.1")
ctx = labels.astype(np.int64) * 100000 + s1


def entropy(keys):
    _, c = np.unique(keys, return_counts=True)
    p = c / c.sum()
    return -(p * np.log(p)).sum()


def mi(a, b):
    a, b = ctx * 4096 + a, ctx * 4096 + b
    return entropy(a) + entropy(b) - entropy(a * 4096 + b % 4096) - entropy(ctx)


rng = np.random.default_rng(0)


def shuffled(b):
    out = b.copy()
    for g in np.unique(ctx):
        i = np.where(ctx == g)[0]
        out[i] = b[rng.permutation(i)]
    return out


print(f"{len(labels)} images; H(1x1 token | class) = {entropy(labels * 100000 + s1) - entropy(labels):.3f} nats")
marg = [entropy(ctx * 4096 + s2[:, j]) - entropy(ctx) for j in range(4)]
print("H(2x2 token j | class, 1x1 token):", " ".join(f"{m:.3f}" for m in marg), f"(sum {sum(marg):.3f} nats)")
for a, b in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]:
    m, bias = mi(s2[:, a], s2[:, b]), mi(s2[:, a], shuffled(s2[:, b]))
    print(f"I(t{a}; t{b} | class, 1x1) = {m:.3f}, shuffled {bias:.3f}, difference {m - bias:.3f} nats")
