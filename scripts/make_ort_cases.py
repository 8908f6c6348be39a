#!/usr/bin/env python3
"""Exports torchvision models in several ways and records ONNX Runtime's
outputs, for eqbench's opt-in agreement test on models from the wild:

    pip install torch torchvision onnx onnxruntime onnxscript
    python3 scripts/make_ort_cases.py /tmp/ort-cases
    EQBENCH_ORT_CASES=/tmp/ort-cases swift test --filter ExternalModelAgreementTests

For each of MobileNetV2 and ResNet-18 (random weights, eval mode), exported by
the TorchScript exporter (dynamo=False) and by the dynamo exporter, at opsets
13 and 17 (the dynamo exporter refuses opsets below 18 and is asked for 18),
it writes <case>.onnx, <case>.input.f32 (float32 [4, 3, 224, 224]) and
<case>.logits.f32 (ONNX Runtime's float32 logits). Nothing here is committed.
"""
import os
import sys

import numpy as np
import onnxruntime as ort
import torch
import torchvision


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ort-cases"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(4, 3, 224, 224)
    for arch in ["mobilenet_v2", "resnet18"]:
        model = getattr(torchvision.models, arch)(weights=None).eval()
        # Random BN statistics, so activations (and logits) are not degenerate
        # as they are with freshly initialised running stats.
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        for exporter in ["legacy", "dynamo"]:
            for opset in [13, 17]:
                if exporter == "dynamo":
                    opset = max(opset, 18)
                case = f"{arch}-{exporter}-opset{opset}"
                path = os.path.join(out, case + ".onnx")
                if os.path.exists(path):
                    continue
                try:
                    torch.onnx.export(model, (x[:1],), path, dynamo=exporter == "dynamo", opset_version=opset,
                                      input_names=["input"], output_names=["logits"],
                                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}
                                      if exporter == "legacy" else None,
                                      dynamic_shapes=({0: torch.export.Dim("batch")},) if exporter == "dynamo" else None)
                except Exception as error:  # report and go on with the other cases
                    print(f"{case}: export failed: {error}")
                    continue
                session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                logits = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
                x.numpy().astype("<f4").tofile(os.path.join(out, case + ".input.f32"))
                logits.astype("<f4").tofile(os.path.join(out, case + ".logits.f32"))
                print(f"{case}: logits {logits.shape}")


if __name__ == "__main__":
    main()
