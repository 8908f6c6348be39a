# eqbench: the two set-up commands of README.md, plus helpers.
#   make run    evaluate the bundled models on the bundled dataset (release build)
#   make test   build and run the test suite
# Both install the Debian packages they need first (apt-get, as root or via sudo).

# Package.swift compiles every module for the building machine's vectors
# (skylake-avx512 where it has AVX-512, else haswell: AVX2 + FMA; without FMA
# Swift makes each multiply-add a libm call). Override for other CPUs, e.g.
#   make run CPU=haswell    make run CPU=znver4    make run CPU=x86-64 (any x86-64, slow)
CPU ?=
ifneq ($(CPU),)
export EQBENCH_CPU = $(CPU)
endif
RELEASE = swift build -c release
EQBENCH = .build/release/eqbench
ARGS ?=
DEBIAN_PACKAGES = libopenblas-dev libpng-dev zlib1g-dev libturbojpeg0-dev pkg-config

.PHONY: run test build deps clean fuzz

run: deps
	$(RELEASE) --product eqbench
	$(EQBENCH) run $(ARGS)

# Tests run a release build (with @testable access): in a debug build the
# kernels' generic vector loads stay calls, and the suite runs over 20× slower.
test: deps
	swift test -c release -Xswiftc -enable-testing --disable-swift-testing

build: deps
	$(RELEASE)

# libFuzzer on every file format eqbench reads (Sources/eqbench-fuzz), each
# target for FUZZ_SECONDS, from the committed seeds in Fuzz/corpus/<target>;
# new inputs go to .build/fuzz/work/<target>, a crashing input to
# .build/fuzz/crash-<target>-*. Built apart (.build/fuzz), instrumented, linked with lld.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = onnx png jpeg idx config csv
fuzz: deps
	swift build -c release --scratch-path .build/fuzz --product eqbench-fuzz -Xswiftc -sanitize=fuzzer \
		-Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p .build/fuzz/work/$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		if ! SWIFT_BACKTRACE=enable=no EQBENCH_FUZZ_TARGET=$$t .build/fuzz/release/eqbench-fuzz .build/fuzz/work/$$t Fuzz/corpus/$$t \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
			-artifact_prefix=.build/fuzz/crash-$$t- > .build/fuzz/$$t.log 2>&1; then \
			grep -E " at /|crash-|ERROR" .build/fuzz/$$t.log | head -20; exit 1; \
		fi; \
		grep -E "DONE|number_of_executed_units" .build/fuzz/$$t.log; \
	done

# Installs the C libraries when pkg-config cannot find them.
deps:
	@if ! pkg-config --exists openblas libpng zlib libturbojpeg 2>/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing $(DEBIAN_PACKAGES)"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	fi

clean:
	rm -rf .build
