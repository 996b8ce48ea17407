# The two commands of the README: `make run` and `make test`.
# Both install missing Debian packages first (scripts/setup.sh).
BUILD ?= build
FUZZ_SECONDS ?= 10

.PHONY: all deps build run test test-box run-box bench-box bench clean

all: build

deps:
	@scripts/setup.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@scripts/run.sh $(BUILD)

# Everything CI runs: unit + integration + conformance, the unit tests again
# under ASan+UBSan, then a short fuzz smoke of every harness.
test: deps
	@scripts/test.sh

bench: build
	@scripts/bench.sh $(BUILD)

# The same, with every KVM guest inside the KVM box (QEMU TCG, Debian's
# kernel, kvm_amd) even where /dev/kvm exists: checks the second KVM.
test-box: deps
	@XENKVM_BOX=1 scripts/test.sh

run-box: build
	@XENKVM_BOX=1 scripts/run.sh $(BUILD)

bench-box: build
	@XENKVM_BOX=1 scripts/bench.sh $(BUILD)

clean:
	rm -rf build build-san build-fuzz
