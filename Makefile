# Thin wrapper over meson and the scripts in scripts/.
#   make run   install what is missing, build, start vigild and the local agent
#   make test  install what is missing, build, run every test (plain and sanitized)
#   make stop  stop what 'make run' started
#   make demo  the reference attack against what 'make run' started, told step by step
BUILD ?= build

.PHONY: all build run stop test demo clean

all: build

build:
	@scripts/install-deps.sh run
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)

run:
	@scripts/run.sh

stop:
	@scripts/run.sh stop

test:
	@scripts/test.sh

demo:
	@scripts/demo.sh

clean:
	rm -rf build build-asan build-fuzz
