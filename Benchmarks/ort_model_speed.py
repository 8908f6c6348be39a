#!/usr/bin/env python3
"""Float images/s of eqbench beside ONNX Runtime on any ONNX model (e.g. the
torchvision exports of scripts/imagenet_check.py), same batch and threads,
alternated --rounds times so both see the same spells of machine noise.

    pip install onnxruntime numpy
    make build
    python3 Benchmarks/ort_model_speed.py /tmp/zoo/efficientnet_b0.onnx [--batch 32] [--threads 1 2] [--rounds 2]

eqbench side: `eqbench bench MODEL --precisions fp32 --batches B --threads T
--images 4B --repeats 3` (its best repeat). ONNX Runtime side: one session,
all graph optimizations, intra-op threads T, two warm-up runs, best of five
runs of one batch of uniform random inputs. Prints each and the ratio of the
bests. Not part of the tests.
"""
import argparse
import csv
import os
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eqbench_speed(binary, model, batch, threads):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary, "bench", model, "--precisions", "fp32", "--batches", str(batch), "--threads", str(threads),
                        "--images", str(4 * batch), "--repeats", "3", "--out", out],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(out, "throughput.csv")) as f:
            return max(float(row["images_per_s"]) for row in csv.DictReader(f))


def ort_speed(model, batch, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    shape = [batch] + list(session.get_inputs()[0].shape[1:])
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    for _ in range(2):
        session.run(None, {name: x})
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        session.run(None, {name: x})
        best = min(best, time.perf_counter() - began)
    return batch / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/eqbench"))
    args = parser.parse_args()
    for threads in args.threads:
        ours, theirs = 0.0, 0.0
        for _ in range(args.rounds):
            ours = max(ours, eqbench_speed(args.binary, args.model, args.batch, threads))
            theirs = max(theirs, ort_speed(args.model, args.batch, threads))
        print(f"{os.path.basename(args.model)} batch {args.batch}, {threads} thread(s): "
              f"eqbench {ours:.1f} images/s, ONNX Runtime {theirs:.1f}, ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
