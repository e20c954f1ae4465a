# Two commands do everything on a fresh Debian 12 machine:
#   make run    install what is missing, build, start a one-node cluster (data in ./data)
#   make test   install what is missing, build, run every test
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all setup build blixard run install install-files test bench sim torture clean

all: build

setup:
	@scripts/setup --check >/dev/null 2>&1 || scripts/setup

$(BUILD)/build.ninja: CMakeLists.txt
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

# Only the command itself, for run and install: a fresh machine's first
# `make run` does not wait for every test, benchmark and the simulator.
blixard: setup $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS) --target blixard

run: blixard
	@scripts/guest-image >/dev/null
	@mkdir -p data
	$(BUILD)/src/cli/blixard node --id 1 --bind 127.0.0.1:7001 --data-dir ./data

# Puts `blixard` on PATH: $(DESTDIR)$(PREFIX)/bin/blixard. install-files
# installs what is built, building nothing (the make_install test runs it
# beside tests that use the binary).
install: blixard
	@$(MAKE) --no-print-directory install-files
install-files:
	install -D -m 0755 $(BUILD)/src/cli/blixard $(DESTDIR)$(PREFIX)/bin/blixard

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900

bench: build
	@scripts/bench $(BUILD)

SEEDS ?= 10000
SIM_FLAGS ?=
sim: build
	$(BUILD)/src/sim/blixard-sim --seeds $(SEEDS) $(SIM_FLAGS)

# Real nodes in network namespaces under a seeded nemesis (tests/faults,
# needs root): half of DURATION (seconds) on 3 nodes, half on 5.
DURATION ?= 1800
SEED ?= 1
torture: build
	$(BUILD)/tests/faults/blixard-faults --nodes 3 --seed $(SEED) --duration $$(( $(DURATION) / 2 )) --min-hold-ms 1000 --max-hold-ms 15000
	$(BUILD)/tests/faults/blixard-faults --nodes 5 --seed $(SEED) --duration $$(( $(DURATION) / 2 )) --min-hold-ms 1000 --max-hold-ms 15000

clean:
	rm -rf $(BUILD)
