#!/usr/bin/env python3
"""Runs the models `eqbench export` wrote in ONNX Runtime and prints their
top-1 beside eqbench's, so what eqbench simulated is checked by a runtime
that executes QDQ models with integer kernels.

    pip install onnx onnxruntime numpy pillow
    eqbench export Datasets/models/mbv2_hard.onnx --variant cls --precision w8a8-pt --out /tmp/export
    eqbench run --model Datasets/models/mbv2_hard.onnx --variants baseline,cls --precisions fp32,w8a8-pt --out /tmp/report
    python3 scripts/check_export.py /tmp/export --dataset Datasets/fashion-mnist --report /tmp/report

For every .onnx in the folder: `onnx.checker` (full check), then ONNX
Runtime (all graph optimizations, so QDQ pairs fuse into QLinearConv,
QLinearMatMul, …) over the dataset's test/ split with the preprocessing of
the sidecar eqbench wrote (mean, std, resize and crop as torchvision's
Resize + CenterCrop on the PIL image). The table gives ONNX Runtime's top-1,
eqbench's top-1 for the same model, variant and precision from the report's
accuracy.csv, their difference, the share of images on which both were
right or both wrong (paired, from accuracy.csv's correct_images), and the
integer ops ONNX Runtime ran. `--fixture DIR` also writes each model's logits of the first
--eval images (little-endian float32) for eqbench's tests.
"""
import argparse
import csv
import glob
import json
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def split_items(root):
    """The images of an eqbench split folder in eqbench's order: sorted by
    file name, then label; labels from classes.txt or sorted subfolders."""
    listing = os.path.join(root, "classes.txt")
    if os.path.exists(listing):
        with open(listing) as f:
            classes = [line.rstrip("\n") for line in f if line.strip()]
    else:
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = []
    for label, name in enumerate(classes):
        for file in os.listdir(os.path.join(root, name)):
            if file.lower().endswith(IMAGE_SUFFIXES):
                items.append((file, label, os.path.join(root, name, file)))
    items.sort(key=lambda item: (item[0], item[1]))
    return [(path, label) for _, label, path in items]


def preprocess(path, shape, sidecar):
    channels, height, width = shape
    image = Image.open(path).convert("L" if channels == 1 else "RGB")
    resize = sidecar.get("resize")
    if resize:
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(resize * long / short)
        size = (resize, new_long) if w <= h else (new_long, resize)
        image = image.resize(size, Image.BILINEAR)
        w, h = image.size
        top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
        image = image.crop((left, top, left + width, top + height))
    elif image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    x = np.asarray(image, dtype=np.float32).reshape(height, width, channels).transpose(2, 0, 1) / 255.0
    mean = np.array(sidecar.get("mean", [0.0]), dtype=np.float32).reshape(-1, 1, 1)
    std = np.array(sidecar.get("std", [1.0]), dtype=np.float32).reshape(-1, 1, 1)
    return (x - mean) / std


def sidecar_for(path):
    """The sidecar of an exported file: the longest <stem>.json its name starts with."""
    folder, name = os.path.split(path)
    best = None
    for candidate in glob.glob(os.path.join(folder, "*.json")):
        stem = os.path.basename(candidate)[:-5]
        if name.startswith(stem + ".") or name.startswith(stem + "-"):
            if not stem.endswith(".encodings") and (best is None or len(stem) > len(best[0])):
                best = (stem, candidate)
    if best is None:
        return {}
    with open(best[1]) as f:
        return json.load(f)


def eqbench_rows(report):
    """(model, variant, precision) → (top-1, per-image correctness or None) from accuracy.csv."""
    if not report:
        return {}
    rows = {}
    with open(os.path.join(report, "accuracy.csv")) as f:
        for row in csv.DictReader(f):
            if row.get("status", "ok") == "ok" and row.get("top1"):
                bits = row.get("correct_images") or ""
                # One hex digit per four images, the first image in the highest bit.
                correct = [bool(int(d, 16) >> (3 - k) & 1) for d in bits for k in range(4)] if bits else None
                rows[(row["model"], row["variant"], row["precision"])] = (float(row["top1"]), correct)
    return rows


def integer_ops(path):
    """Op types of the integer nodes in ONNX Runtime's optimized graph."""
    with tempfile.TemporaryDirectory() as scratch:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = os.path.join(scratch, "optimized.onnx")
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
        return sorted(n.op_type for n in graph.node
                      if n.op_type.startswith("QLinear") or n.op_type.endswith("Integer") or n.op_type == "QGemm")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the folder eqbench export wrote")
    parser.add_argument("--dataset", required=True, help="dataset folder with a test/ split")
    parser.add_argument("--eval", type=int, default=None, help="only the first N test images (as eqbench run --eval)")
    parser.add_argument("--report", help="an eqbench report folder whose accuracy.csv to compare with")
    parser.add_argument("--fixture", help="also write <file>.logits.f32 of every model into this folder")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    items = split_items(os.path.join(args.dataset, "test"))[:args.eval]
    labels = np.array([label for _, label in items])
    measured = eqbench_rows(args.report)
    print(f"{len(items)} test images of {args.dataset}")
    print(f"{'file':48} {'ORT top-1':>9} {'eqbench':>8} {'diff':>6} {'same':>6}  integer ops in ORT")
    print(f"{'':48} {'':>9} {'':>8} {'':>6} {'images':>6}")
    for path in sorted(glob.glob(os.path.join(args.folder, "*.onnx"))):
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        about = json.loads(model.doc_string).get("eqbench_export", {}) if model.doc_string.startswith("{") else {}
        sidecar = sidecar_for(path)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape[1:]
        logits = []
        for start in range(0, len(items), args.batch):
            batch = np.stack([preprocess(p, shape, sidecar) for p, _ in items[start:start + args.batch]])
            logits.append(session.run(None, {session.get_inputs()[0].name: batch})[0])
        logits = np.concatenate(logits)
        top1 = 100.0 * float(np.mean(logits.argmax(1) == labels))
        key = (about.get("model"), about.get("variant"), about.get("precision"))
        theirs, their_correct = measured.get(key, (float("nan"), None))
        # Paired: the share of images ONNX Runtime and eqbench both got right or both wrong.
        correct = logits.argmax(1) == labels
        same = (100.0 * float(np.mean(correct == np.array(their_correct[:len(correct)])))
                if their_correct is not None and len(their_correct) >= len(correct) else float("nan"))
        ops = integer_ops(path)
        summary = ", ".join(f"{ops.count(op)} {op}" for op in sorted(set(ops))) or "none (float)"
        print(f"{os.path.basename(path):48} {top1:9.2f} {theirs:8.2f} {top1 - theirs:6.2f} {same:6.1f}  {summary}")
        if args.fixture:
            os.makedirs(args.fixture, exist_ok=True)
            stem = os.path.basename(path)[:-5]
            logits.astype("<f4").tofile(os.path.join(args.fixture, stem + ".ort-logits.f32"))


if __name__ == "__main__":
    main()
