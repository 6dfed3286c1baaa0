# weft — a thin Makefile over Meson + Ninja.
#
#   make            build build/libweft.so and build/libweft.a (asserts on, -O2)
#   make test       build and run the test suite
#   make demo       build and run the seed examples
#   make bench      release build, then the benchmarks beside their peers
#   make test-asan  the suite under ASan+UBSan (gcc)       build dir: build-asan
#   make test-tsan  the suite under TSan (clang)           build dir: build-tsan
#   make test-valgrind  the suite under Valgrind memcheck
#   make test-aarch64   cross-build for aarch64, run the fiber and task tests under qemu
#
# Every target installs the Debian packages it needs when they are missing (tools/deps.sh).

BUILD   ?= build
MESON   ?= meson
TESTFLAGS ?=

.PHONY: all test demo bench deps deps-bench deps-ci test-asan test-tsan test-valgrind \
        test-aarch64 clean

all: deps
	@test -f $(BUILD)/build.ninja || $(MESON) setup $(BUILD) --buildtype=debugoptimized
	ninja -C $(BUILD)

deps:
	@tools/deps.sh build

deps-bench:
	@tools/deps.sh build bench

deps-ci:
	@tools/deps.sh build ci

test: all
	$(MESON) test -C $(BUILD) --print-errorlogs $(TESTFLAGS)

demo: all
	@tools/demo.sh $(BUILD)

bench: deps-bench
	@test -f build-release/build.ninja || \
	  $(MESON) setup build-release --buildtype=release -Db_ndebug=true -Dbench=true
	ninja -C build-release
	python3 bench/run.py --builddir build-release $(BENCHFLAGS)

test-asan: deps-ci
	@test -f build-asan/build.ninja || \
	  $(MESON) setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C build-asan --print-errorlogs --timeout-multiplier 3 $(TESTFLAGS)

test-tsan: deps-ci
	@test -f build-tsan/build.ninja || \
	  CC=clang $(MESON) setup build-tsan --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false
	ninja -C build-tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(MESON) test -C build-tsan --print-errorlogs --timeout-multiplier 4 $(TESTFLAGS)

test-valgrind: all
	$(MESON) test -C $(BUILD) --print-errorlogs --timeout-multiplier 8 \
	  --wrapper 'valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$(CURDIR)/tools/valgrind.supp' \
	  --no-suite novalgrind $(TESTFLAGS)

test-aarch64: deps-ci
	@test -f build-aarch64/build.ninja || \
	  $(MESON) setup build-aarch64 --cross-file tools/aarch64-linux-gnu.ini --buildtype=debugoptimized
	ninja -C build-aarch64
	$(MESON) test -C build-aarch64 --print-errorlogs --timeout-multiplier 6 --suite cross $(TESTFLAGS)

clean:
	rm -rf build build-release build-asan build-tsan build-aarch64
