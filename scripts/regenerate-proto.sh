#!/usr/bin/env bash
# Regenerates Sources/EqONNX/Generated/onnx-minimal.pb.swift from the project's
# minimal ONNX schema. Needs protoc (Debian: protobuf-compiler) and swift-protobuf's
# protoc-gen-swift at the version Package.swift pins, built once:
#   git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   git -C /tmp/swift-protobuf checkout 1.39.0
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
# The generated file is committed, so builds never need protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
protoc --plugin=protoc-gen-swift="$plugin" \
  --proto_path=Sources/EqONNX/Proto \
  --swift_out=Sources/EqONNX/Generated \
  --swift_opt=Visibility=Internal \
  Sources/EqONNX/Proto/onnx-minimal.proto
echo "wrote Sources/EqONNX/Generated/onnx-minimal.pb.swift"
