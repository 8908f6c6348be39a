#!/usr/bin/env python3
"""Writes ONNX Runtime's logits for the demo models as test fixtures.

eqbench's float runtime is checked against these files by
Tests/EqRuntimeTests/ORTAgreementTests.swift; the tests never run Python.

    pip install onnxruntime numpy
    python3 Datasets/models/make_ort_fixtures.py

Images: the first 256 images of Datasets/fashion-mnist/test in eqbench's order
(file name, then class), read from Debian's original IDX file by the index each
PNG is named after, so the pixels reach ONNX Runtime without going through
eqbench's PNG code. Preprocessing: pixels / 255, then (x - mean) / std from
each model's sidecar JSON.

Output, per model, in Tests/EqRuntimeTests/Fixtures/: <model>.ort-logits.f32
(little-endian float32, [256, classes]) and one shared images.txt (the
relative paths of the images, in order).
"""
import gzip
import json
import os
import struct

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST = os.path.join(ROOT, "Datasets", "fashion-mnist", "test")
MODELS = os.path.join(ROOT, "Datasets", "models")
OUT = os.path.join(ROOT, "Tests", "EqRuntimeTests", "Fixtures")
IDX = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
COUNT = 256


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def ordered_images():
    with open(os.path.join(TEST, "classes.txt")) as f:
        classes = [line.strip() for line in f if line.strip()]
    items = []
    for label, name in enumerate(classes):
        for file in os.listdir(os.path.join(TEST, name)):
            if file.lower().endswith(".png"):
                items.append((file, label, name + "/" + file))
    items.sort(key=lambda item: (item[0], item[1]))
    return [(path, int(file.split(".")[0])) for file, _, path in items[:COUNT]]


def main():
    os.makedirs(OUT, exist_ok=True)
    images = ordered_images()
    pixels = read_idx(IDX)[[index for _, index in images]].astype(np.float32) / 255.0
    with open(os.path.join(OUT, "images.txt"), "w") as f:
        f.write("\n".join(path for path, _ in images) + "\n")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for file in sorted(os.listdir(MODELS)):
        if not file.endswith(".onnx"):
            continue
        name = file[:-5]
        with open(os.path.join(MODELS, name + ".json")) as f:
            sidecar = json.load(f)
        x = ((pixels - np.float32(sidecar["mean"][0])) / np.float32(sidecar["std"][0]))[:, None, :, :]
        session = ort.InferenceSession(os.path.join(MODELS, file), options,
                                       providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
        logits.astype("<f4").tofile(os.path.join(OUT, name + ".ort-logits.f32"))
        print(f"{name}: logits {logits.shape}, range {logits.min():.3f}..{logits.max():.3f}")


if __name__ == "__main__":
    main()
