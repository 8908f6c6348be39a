#!/usr/bin/env python3
"""Writes the small hand-made seeds of Fuzz/corpus/ (the PNG and JPEG seeds
are copies of Tests/EqDataTests/Fixtures; the ONNX seeds other than tiny.onnx
are the crafted hostile models of issue 23). Needs `pip install onnx numpy`."""
import gzip
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def main():
    write("idx", "images.idx", idx([2, 2, 2], range(8)))
    write("idx", "labels.idx.gz", gzip.compress(idx([2], [0, 1]), mtime=0))
    write("idx", "short.idx", idx([3, 3], range(4)))
    write("config", "variants.json", b'{"variants": [{"name": "mine", "passes": ["bnfold", {"pass": "cls", "max_iterations": 5}, "smoothquant@0.5"]}]}')
    write("config", "bad.json", b'{"variants": [{"name": "x", "passes": ["fixedpoint@1e300", "+"]}]}')
    write("csv", "accuracy.csv", b'model,variant,precision,top1,status\r\nm,"a,b",w8a8-pt,90.00,ok\r\n\'=1+2,x,y,"q""uote",error\r\n')
    write("csv", "ragged.csv", b'a,b\r\n1\r\n"unterminated')
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    fc = numpy_helper.from_array(np.ones((2, 3), np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    write("onnx", "tiny.onnx", model.SerializeToString())

    # Models whose numbers trapped or allocated without bound before (issue 23).
    def hostile(name, nodes, inits=(), outputs=None, shape=(1, 1, 8, 8)):
        out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)] if outputs is None else outputs
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))], out, list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        write("onnx", name + ".onnx", m.SerializeToString())
    k = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    ints = lambda name, values: numpy_helper.from_array(np.array(values, np.int64), name)
    hostile("huge_dilation", [helper.make_node("Conv", ["x", "w"], ["y"], dilations=[1 << 40] * 2, pads=[1 << 40] * 4)], [k])
    hostile("huge_pads", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[100000] * 4)], [k])
    hostile("neg_pool", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[-3, -3])])
    hostile("zero_kernel", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[0, 0])])
    hostile("huge_flatten", [helper.make_node("Flatten", ["x"], ["y"], axis=1 << 62)])
    hostile("unsq_dup", [helper.make_node("Unsqueeze", ["x", "ax"], ["y"])], [ints("ax", [1, 1])])
    hostile("unsq_huge", [helper.make_node("Unsqueeze", ["x", "ax"], ["y"])], [ints("ax", [1 << 62])])
    hostile("no_outputs", [helper.make_node("Relu", ["x"], ["y"])], outputs=[])
    hostile("huge_dims", [helper.make_node("MatMul", ["x", "w2"], ["y"])],
            [TensorProto(name="w2", dims=[1 << 40, 1 << 40], data_type=1)], shape=(1, 8))
    hostile("slice_step", [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "st", "en", "ax", "sp"], ["s2"]),
                           helper.make_node("Reshape", ["x", "s2"], ["y"])],
            [ints("st", [0]), ints("en", [4]), ints("ax", [0]), ints("sp", [(1 << 63) - 1])])
    hostile("nan_attr", [helper.make_node("LeakyRelu", ["x"], ["y"], alpha=float("nan"))])


if __name__ == "__main__":
    main()
