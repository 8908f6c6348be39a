#!/usr/bin/env python3
"""Per-step time of eqbench beside ONNX Runtime's per-node time, on one model:
where a float throughput gap comes from.

    pip install onnxruntime numpy
    make build            # release build of eqbench
    python3 Benchmarks/ort_steps.py Datasets/models/resnet.onnx [--threads 1] [--processes 3]

eqbench side: `eqbench bench MODEL --precisions fp32 --batches B --threads T`
run --processes times; each step's µs/image is the minimum over the processes
(kernels.csv). ONNX Runtime side: one session (all graph optimizations on),
profiling enabled, --passes runs of a batch of random inputs after two
warm-up runs; each node's µs/image is its minimum kernel time over the passes
divided by the batch. ORT's fused nodes are matched to eqbench's steps by the
ONNX node that ends them (ORT names a fused node after its output value).
Timings of both are minimums: on a shared machine they are the least
disturbed runs, not typical ones. Not part of the tests.
"""
import argparse
import collections
import csv
import json
import os
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eqbench_steps(binary, model, batch, threads, processes):
    """[(step, kernel, shape, nodes, µs/image)], minimum per step over the processes."""
    best = {}
    for _ in range(processes):
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([binary, "bench", model, "--batches", str(batch), "--threads", str(threads),
                            "--precisions", "fp32", "--variants", "baseline", "--images", str(4 * batch),
                            "--repeats", "5", "--out", out], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(out, "kernels.csv")) as f:
                for row in csv.DictReader(f):
                    step = int(row["step"])
                    time = float(row["us_per_image"])
                    if step not in best or time < best[step][4]:
                        best[step] = (step, row["kernel"], row["output_shape"], row["nodes"].split("+"), time)
    return [best[s] for s in sorted(best)]


def ort_nodes(model, batch, threads, passes):
    """{node name: µs/image}, each node's minimum kernel time over the passes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as out:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(out, "ort")
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        shape = [batch] + [d if isinstance(d, int) else 1 for d in spec.shape[1:]]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for _ in range(passes + 2):
            session.run(None, {spec.name: x})
        with open(session.end_profiling()) as f:
            events = json.load(f)
    times = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["name"][:-len("_kernel_time")]].append(e["dur"])
    # The first two runs are warm-up.
    return {name: min(t[2:] if len(t) > 2 else t) / batch for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--processes", type=int, default=3, help="eqbench processes; each step keeps its minimum")
    parser.add_argument("--passes", type=int, default=6, help="timed ONNX Runtime runs; each node keeps its minimum")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "eqbench"))
    args = parser.parse_args()
    model = os.path.abspath(args.model)
    ours = eqbench_steps(args.binary, model, args.batch, args.threads, args.processes)
    theirs = ort_nodes(model, args.batch, args.threads, args.passes)
    # An ORT node named after value "<node>_output_0…" is matched to the step
    # whose fused nodes include the ONNX node whose output that is.
    by_node = {}
    for entry in ours:
        for node in entry[3]:
            by_node[node] = entry[0]
    matched = collections.defaultdict(float)
    unmatched = []
    for name, time in theirs.items():
        node = name.split("_output_")[0]
        if node in by_node:
            matched[by_node[node]] += time
        else:
            unmatched.append((name, time))
    print(f"{os.path.basename(model)}: batch {args.batch}, {args.threads} thread(s), µs per image")
    print(f"{'step':>4} {'kernel':28} {'output':12} {'eqbench':>8} {'ORT':>8} {'ratio':>6}")
    for step, kernel, shape, _, time in ours:
        other = matched.get(step)
        ratio = f"{other / time:6.2f}" if other else ""
        print(f"{step:4} {kernel[:28]:28} {shape[:12]:12} {time:8.2f} {other or 0:8.2f} {ratio}")
    for name, time in unmatched:
        print(f"{'':4} {'(ORT only) ' + name[:40]:41} {'':8} {time:8.2f}")
    total_ours, total_theirs = sum(e[4] for e in ours), sum(theirs.values())
    print(f"{'':4} {'total':41} {total_ours:8.2f} {total_theirs:8.2f} {total_theirs / total_ours:6.2f}")
    print("ratio = ORT time ÷ eqbench time (above 1: eqbench is faster)")


if __name__ == "__main__":
    main()
