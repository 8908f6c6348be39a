#!/usr/bin/env python3
"""Trains eqbench's demo models on Fashion-MNIST and exports them to ONNX.

The harness and its tests never run this script: its outputs (the .onnx files
and their .json sidecars beside it) are committed. It documents exactly how the
demo models were made, so anyone can make them again.

    pip install torch onnx
    python3 Datasets/models/train_demo_models.py --epochs 6 --seed 20261123

mbv2_hard and mlp_hard are derived from a ReLU twin of mbv2 and from mlp by
Datasets/models/make_hard_models.py (see there):

    python3 Datasets/models/train_demo_models.py --models mbv2_relu --out-dir /tmp/eqbench-twins

Data: Debian's `dataset-fashion-mnist` (the 60,000 training images; the test
set is never used for training). Pixels are scaled to [0, 1] and normalised
with mean 0.2860 and std 0.3530, the values written to each model's sidecar.

Export: the TorchScript exporter (dynamo=False) with TrainingMode.PRESERVE on a
model in eval mode, which keeps every BatchNormalization as its own node (the
dynamo exporter folds them into the convolutions).
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


# ----------------------------------------------------------------- models

def conv_bn(cin, cout, k, stride=1, groups=1, act="relu6"):
    """Conv (no bias) + BatchNorm + activation ("relu6", "relu" or None)."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act == "relu6":
        layers.append(nn.ReLU6())
    elif act == "relu":
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project, residual Add."""

    def __init__(self, cin, cout, stride, expand, act="relu6"):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn(cin, hidden, 1, act=act))
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=act),
                   conv_bn(hidden, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2Small(nn.Module):
    def __init__(self, classes=10, act="relu6"):
        super().__init__()
        cfg = [(1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 1)]
        layers = [conv_bn(1, 16, 3, act=act)]
        cin = 16
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t, act))
                cin = c
        layers.append(conv_bn(cin, 128, 1, act=act))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(128, classes)

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride, act="relu")
        self.conv2 = conv_bn(cout, cout, 3, act=None)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = conv_bn(cin, cout, 1, stride, act=None)

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv2(self.conv1(x)) + identity)


class ResNetSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, act="relu")
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2),
                                    BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class InceptionBlock(nn.Module):
    """Four branches (1x1; 1x1->3x3; 1x1->3x3->3x3; maxpool->1x1) joined by Concat."""

    def __init__(self, cin, b1, b2, b3, b4):
        super().__init__()
        self.branch1 = conv_bn(cin, b1, 1, act="relu")
        self.branch2 = nn.Sequential(conv_bn(cin, b2 // 2, 1, act="relu"),
                                     conv_bn(b2 // 2, b2, 3, act="relu"))
        self.branch3 = nn.Sequential(conv_bn(cin, b3 // 2, 1, act="relu"),
                                     conv_bn(b3 // 2, b3, 3, act="relu"),
                                     conv_bn(b3, b3, 3, act="relu"))
        self.branch4 = conv_bn(cin, b4, 1, act="relu")

    def forward(self, x):
        pooled = F.max_pool2d(x, 3, 1, 1)
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                          self.branch4(pooled)], 1)


class InceptionSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv_bn(1, 24, 3, act="relu")
        self.block1 = InceptionBlock(24, 16, 24, 16, 8)   # 64 channels
        self.reduce1 = conv_bn(64, 48, 3, 2, act="relu")
        self.block2 = InceptionBlock(48, 24, 32, 16, 8)   # 80 channels
        self.reduce2 = conv_bn(80, 96, 3, 2, act="relu")
        self.fc = nn.Linear(96, classes)

    def forward(self, x):
        x = self.reduce1(self.block1(self.stem(x)))
        x = self.reduce2(self.block2(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class MLP(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, classes)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


MODELS = {"mbv2": MobileNetV2Small, "resnet": ResNetSmall,
          "inception": InceptionSmall, "mlp": MLP,
          # The ReLU twin of mbv2, from which make_hard_models.py derives mbv2_hard.
          "mbv2_relu": lambda: MobileNetV2Small(act="relu")}


# --------------------------------------------------------------- training

def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return 100.0 * correct / len(x)


def train(name, epochs, seed, data):
    torch.manual_seed(seed)
    np.random.seed(seed)
    xtr, ytr, xte, yte = data
    model = MODELS[name]()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        start = time.time()
        order = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), 128):
            idx = order[i:i + 128]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xte, yte)
        print(f"{name} epoch {epoch + 1}/{epochs}: test top-1 {acc:.2f}% "
              f"({time.time() - start:.0f} s)", flush=True)
    model.eval()
    return model, acc


def export(name, model, acc, epochs, seed, folder):
    path = os.path.join(folder, name + ".onnx")
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model, dummy, path, dynamo=False, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    sidecar = {"mean": [MEAN], "std": [STD],
               "trained": {"script": "Datasets/models/train_demo_models.py",
                           "epochs": epochs, "seed": seed,
                           "torch": torch.__version__,
                           "fashion_mnist_test_top1": round(acc, 2)}}
    with open(os.path.join(folder, name + ".json"), "w") as f:
        json.dump(sidecar, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--models", default="mbv2,resnet,inception,mlp")
    parser.add_argument("--out-dir", default=HERE, help="where the .onnx and .json files go")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    def load(split):
        x = read_idx(os.path.join(args.data, f"{split}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(args.data, f"{split}-labels-idx1-ubyte.gz"))
        x = (torch.from_numpy(x.astype(np.float32) / 255.0) - MEAN) / STD
        return x.unsqueeze(1), torch.from_numpy(y.astype(np.int64))

    data = (*load("train"), *load("t10k"))
    for name in args.models.split(","):
        model, acc = train(name, args.epochs, args.seed, data)
        export(name, model, acc, args.epochs, args.seed, args.out_dir)


if __name__ == "__main__":
    main()
