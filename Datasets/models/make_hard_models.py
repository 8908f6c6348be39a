#!/usr/bin/env python3
"""Derives the demo models on which per-tensor int8 really breaks, by
function-preserving rescaling of trained models (no retraining):

    pip install onnx numpy
    python3 Datasets/models/train_demo_models.py --models mbv2_relu --out-dir /tmp/eqbench-twins
    python3 Datasets/models/make_hard_models.py --mbv2-relu /tmp/eqbench-twins/mbv2_relu.onnx

mbv2_hard: the ReLU twin of mbv2 (same architecture with ReLU instead of
ReLU6, trained by train_demo_models.py with the same seed). For every
depthwise conv → BatchNormalization → Relu → 1x1 conv, channel i of the BN's
scale and bias is multiplied by k_i and input channel i of the 1x1 conv divided
by k_i. ReLU commutes with a positive scale, so the float function is the
same, but once BN is folded the depthwise weights' per-channel ranges differ
by up to k_max/k_min, as BN folding produces in real MobileNets
(k_i = 10^u, u uniform in [-1.5, 1.5], seed 7).

mlp_hard: mlp with every Gemm → Relu → Gemm pair rescaled the same way: row i
(weights and bias) of the first layer times k_i, column i of the second
divided by k_i.

Each output gets a sidecar JSON with the normalisation and what it derives from.
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def factors(rng, n):
    return (10.0 ** rng.uniform(-1.5, 1.5, n)).astype(np.float32)


class Editor:
    def __init__(self, path):
        self.model = onnx.load(path)
        self.graph = self.model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.readers = {}
        for n in self.graph.node:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)

    def get(self, name):
        return numpy_helper.to_array(self.inits[name]).copy()

    def set(self, name, array):
        self.inits[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))

    def only_reader(self, value):
        readers = self.readers.get(value, [])
        return readers[0] if len(readers) == 1 else None

    def attr(self, node, name, default):
        for a in node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default


def make_mbv2_hard(source, seed):
    e = Editor(source)
    rng = np.random.default_rng(seed)
    changed = 0
    for node in e.graph.node:
        if node.op_type != "Conv":
            continue
        weight = e.get(node.input[1])
        if e.attr(node, "group", 1) != weight.shape[0] or weight.shape[1] != 1:
            continue  # not depthwise
        bn = e.only_reader(node.output[0])
        relu = bn and e.only_reader(bn.output[0])
        project = relu and e.only_reader(relu.output[0])
        if not (bn and bn.op_type == "BatchNormalization" and relu.op_type == "Relu" and project.op_type == "Conv"):
            continue
        k = factors(rng, weight.shape[0])
        e.set(bn.input[1], e.get(bn.input[1]) * k)          # gamma
        e.set(bn.input[2], e.get(bn.input[2]) * k)          # beta
        w = e.get(project.input[1])
        e.set(project.input[1], w / k[None, :, None, None])
        changed += 1
    return e.model, changed


def make_mlp_hard(source, seed):
    e = Editor(source)
    rng = np.random.default_rng(seed)
    changed = 0
    for node in e.graph.node:
        if node.op_type != "Gemm" or e.attr(node, "transB", 0) != 1:
            continue
        relu = e.only_reader(node.output[0])
        nxt = relu and relu.op_type == "Relu" and e.only_reader(relu.output[0])
        if not (nxt and nxt.op_type == "Gemm" and e.attr(nxt, "transB", 0) == 1):
            continue
        w = e.get(node.input[1])                              # [out, in]
        k = factors(rng, w.shape[0])
        e.set(node.input[1], w * k[:, None])
        e.set(node.input[2], e.get(node.input[2]) * k)
        e.set(nxt.input[1], e.get(nxt.input[1]) / k[None, :])
        changed += 1
    return e.model, changed


def save(model, name, derived, changed):
    path = os.path.join(HERE, name + ".onnx")
    onnx.checker.check_model(model)
    onnx.save(model, path)
    sidecar = {"mean": [0.2860], "std": [0.3530],
               "derived": {"script": "Datasets/models/make_hard_models.py", "from": derived,
                           "rescaled_pairs": changed, "seed": 7,
                           "factors": "10^u, u uniform in [-1.5, 1.5]"}}
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(sidecar, f, indent=2)
        f.write("\n")
    print(f"wrote {path} ({changed} rescaled pairs)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mbv2-relu", help="the ReLU twin of mbv2 (train_demo_models.py --models mbv2_relu)")
    parser.add_argument("--mlp", default=os.path.join(HERE, "mlp.onnx"))
    args = parser.parse_args()
    model, changed = make_mlp_hard(args.mlp, 7)
    save(model, "mlp_hard", "mlp.onnx", changed)
    if args.mbv2_relu:
        model, changed = make_mbv2_hard(args.mbv2_relu, 7)
        save(model, "mbv2_hard", "mbv2_relu (train_demo_models.py --models mbv2_relu, seed 20261123, 6 epochs)", changed)


if __name__ == "__main__":
    main()
