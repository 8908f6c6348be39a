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

.PHONY: run test build deps clean

run: deps
	$(RELEASE) --product eqbench
	$(EQBENCH) run $(ARGS)

# Tests run a release build (with @testable access): in a debug build the
# kernels' generic vector loads stay calls, and the suite runs over 20× slower.
test: deps
	swift test -c release -Xswiftc -enable-testing --disable-swift-testing

build: deps
	$(RELEASE)

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
