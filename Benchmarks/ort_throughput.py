#!/usr/bin/env python3
"""Float throughput of eqbench beside ONNX Runtime, on the same models, images,
batch size and thread count, measured in one run on this machine.

    pip install onnxruntime numpy
    make build            # release build of eqbench
    python3 Benchmarks/ort_throughput.py [--batch 256] [--threads 2] [--repeats 5]

For each demo model it alternates, --repeats times, one `eqbench run
--precisions fp32` (images/s from its throughput.csv) and one timed pass of
ONNX Runtime (all graph optimizations on, the given intra-op thread count,
one session warmed up once) over the bundled test images in the same
batches, and keeps the best of each: alternating, both see the same spells
of a shared machine's noise. Pixels come
from Debian's IDX file by the index in each PNG's name, normalised with the
model's sidecar mean/std. Not part of the tests.
"""
import argparse
import csv
import gzip
import json
import os
import struct
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "Datasets", "models")
TEST = os.path.join(ROOT, "Datasets", "fashion-mnist", "test")
IDX = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def test_pixels():
    with gzip.open(IDX, "rb") as f:
        data = f.read()
    dims = struct.unpack(">III", data[4:16])
    images = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(dims)
    indices = sorted(int(f.split(".")[0]) for c in os.listdir(TEST) if os.path.isdir(os.path.join(TEST, c))
                     for f in os.listdir(os.path.join(TEST, c)) if f.endswith(".png"))
    return images[indices].astype(np.float32) / 255.0


def ort_session(path, x, batch, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: x[:batch]})  # warm-up
    return session, name


def ort_images_per_s(session, name, x, batch):
    """One timed pass over the images."""
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        session.run(None, {name: x[i:i + batch]})
    return len(x) / (time.perf_counter() - start)


def eqbench_images_per_s(binary, model, batch, threads):
    """One `eqbench run` (its timed evaluation pass, after its own warm-up tile)."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary, "run", "--model", model, "--variants", "baseline", "--precisions", "fp32", "--batch", str(batch),
                        "--threads", str(threads), "--out", out], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(out, "throughput.csv")) as f:
            return float(next(csv.DictReader(f))["images_per_s"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "eqbench"),
                        help="the eqbench executable to time (default: the release build)")
    args = parser.parse_args()
    pixels = test_pixels()
    print(f"batch {args.batch}, threads {args.threads}, {len(pixels)} images, best of {args.repeats}")
    print(f"{'model':10} {'eqbench img/s':>14} {'ORT img/s':>10} {'ratio':>6}")
    for file in sorted(f for f in os.listdir(MODELS) if f.endswith(".onnx")):
        path = os.path.join(MODELS, file)
        with open(path[:-5] + ".json") as f:
            sidecar = json.load(f)
        x = ((pixels - np.float32(sidecar["mean"][0])) / np.float32(sidecar["std"][0]))[:, None].astype(np.float32)
        # The two alternate, repeat by repeat, so both see the same spells of
        # a shared machine's noise; the best of each is kept.
        session, name = ort_session(path, x, args.batch, args.threads)
        ours = theirs = 0.0
        for _ in range(args.repeats):
            ours = max(ours, eqbench_images_per_s(args.binary, path, args.batch, args.threads))
            theirs = max(theirs, ort_images_per_s(session, name, x, args.batch))
        print(f"{file[:-5]:10} {ours:14.0f} {theirs:10.0f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
