# weft — a thin Makefile over Meson + Ninja.
#
#   make            build build/libweft.so and build/libweft.a (asserts on, -O2)
#   make test       build and run the test suite
#   make demo       build and run the seed examples
#   make bench      release build, then the benchmarks beside their peers, then a chart of
#                   the ratios per group of workloads (bench/charts.py -> bench/charts/*.png)
#   make bench-charts  only the charts, from the last run's build-release/bench-output.txt
#   make test-asan  the suite under ASan+UBSan (gcc)       build dir: build-asan
#   make test-asan-O0  the same at -O0 (buildtype debug), as users build   build-asan0
#   make test-tsan  the suite under TSan (clang)           build dir: build-tsan
#   make test-valgrind  the suite under Valgrind memcheck
#   make test-fault     the I/O tests with system calls failing at random (EINTR, short
#                       transfers: tests/fault_sys.c preloaded)        build dir: build
#   make test-perturb   the stress tests and the perturbation regression tests under ASan
#                       and schedule perturbation (-Dperturb=true)  build dir: build-perturb
#   make test-aarch64   cross-build for aarch64, run the fiber and task tests under qemu
#   make soak-aarch64   the lost wake-up soak: test_cond, test_queue and test_lock under
#                       qemu beside two CPU hogs, SOAK_SECONDS (150) in all (tools/soak.sh)
#   make install    install into PREFIX (/usr/local; DESTDIR respected): headers, libweft.so
#                   (soname libweft.so.0) and libweft.a, pkg-config file, CMake package
#   make test-install   install into a temporary prefix and build an outside project
#                   against it with pkg-config and with CMake (tools/outside_build.sh)
#   make deb        the Debian packages (debian/): dpkg-buildpackage -us -uc -b in a temporary
#                   copy of the tree, the .debs kept in build-deb/, an outside build against
#                   them, lintian (tools/deb.sh)
#   make fuzz       libFuzzer (clang) on the stream's record reader, httpd's request reader,
#                   the process pool's result frames and the Redis task messages,
#                   FUZZ_SECONDS (30) each                         build dir: build-fuzz
#   make docs       the API reference from the public headers' comments (Doxygen, docs/api/:
#                   by layer, README's example, the guides in docs/), build-docs/html/index.html;
#                   fails on any Doxygen warning, such as an undocumented function (tools/docs.sh)
#
# Every target installs the Debian packages it needs when they are missing (tools/deps.sh).

BUILD   ?= build
MESON   ?= meson
TESTFLAGS ?=

.PHONY: all test demo bench bench-charts deps deps-bench deps-ci test-asan test-asan-O0 test-tsan test-valgrind \
        test-fault test-perturb test-aarch64 soak-aarch64 install test-install deb fuzz fuzz-build docs clean

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
	$(BUILD)/examples/tour

bench: deps-bench
	@test -f build-release/build.ninja || \
	  $(MESON) setup build-release --buildtype=release -Db_ndebug=true -Dbench=true
	ninja -C build-release
	python3 bench/run.py --builddir build-release $(BENCHFLAGS)
	/usr/bin/python3 bench/charts.py build-release/bench-output.txt

# Debian's python3-matplotlib is /usr/bin/python3's (the python3 on PATH may be another).
bench-charts: deps-bench
	/usr/bin/python3 bench/charts.py build-release/bench-output.txt

test-asan: deps-ci
	@test -f build-asan/build.ninja || \
	  $(MESON) setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C build-asan --print-errorlogs --timeout-multiplier 3 $(TESTFLAGS)

# ASan at -O0: larger frames, every local on the stack; a false report in the fibers' own
# stack bookkeeping showed only here (issue 20).
test-asan-O0: deps-ci
	@test -f build-asan0/build.ninja || \
	  $(MESON) setup build-asan0 --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan0
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C build-asan0 --print-errorlogs --timeout-multiplier 4 $(TESTFLAGS)

test-tsan: deps-ci
	@test -f build-tsan/build.ninja || \
	  CC=clang CXX=clang++ $(MESON) setup build-tsan --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false
	ninja -C build-tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tools/tsan.supp \
	  $(MESON) test -C build-tsan --print-errorlogs --timeout-multiplier 4 $(TESTFLAGS)

test-valgrind: all
	$(MESON) test -C $(BUILD) --print-errorlogs --timeout-multiplier 8 \
	  --wrapper 'valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$(CURDIR)/tools/valgrind.supp' \
	  --no-suite novalgrind $(TESTFLAGS)

# Schedule perturbation (src/core/perturb.h, tests/README.md): ASan+UBSan and random delays
# at the runtime's named points; the 'stress' and 'perturb' suites, without the 'unfixed'
# ones (tests of bugs not yet fixed on this branch). PERTURB_ENV sets WEFT_PERTURB_* (e.g.
# PERTURB_ENV='WEFT_PERTURB_SEED=42 WEFT_PERTURB_POINTS=pool.').
PERTURB_ENV ?=
test-perturb: deps-ci
	@test -f build-perturb/build.ninja || \
	  $(MESON) setup build-perturb --buildtype=debugoptimized -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dperturb=true
	ninja -C build-perturb
	env $(PERTURB_ENV) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C build-perturb --print-errorlogs --timeout-multiplier 3 \
	    --suite stress --suite perturb --no-suite unfixed $(TESTFLAGS)

test-aarch64: deps-ci
	@test -f build-aarch64/build.ninja || \
	  $(MESON) setup build-aarch64 --cross-file tools/aarch64-linux-gnu.ini --buildtype=debugoptimized
	ninja -C build-aarch64
	$(MESON) test -C build-aarch64 --print-errorlogs --timeout-multiplier 6 --suite cross $(TESTFLAGS)

# System-call fault injection (tests/fault_sys.c, tests/README.md): EINTR from the waits and
# blocking calls, short transfers where the kernel makes them; WEFT_FAULT_SEED repeats a run.
FAULT_TESTS ?= net net_edges stream file handoff io subprocess subprocess_io signal graceful \
               remote pool fault_sys
test-fault: all
	$(MESON) test -C $(BUILD) --setup fault --print-errorlogs $(FAULT_TESTS)

SOAK_SECONDS ?= 150
soak-aarch64: deps-ci
	@test -f build-aarch64/build.ninja || \
	  $(MESON) setup build-aarch64 --cross-file tools/aarch64-linux-gnu.ini --buildtype=debugoptimized
	ninja -C build-aarch64
	tools/soak.sh build-aarch64 $(SOAK_SECONDS)

# The fuzzers (tests/fuzz/README.md): the library built by clang with coverage for
# libFuzzer and ASan+UBSan (every UBSan report fatal), each target linked with libFuzzer's
# main; then tests/fuzz/run.sh replays the saved inputs and fuzzes each FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# fuzz_http links the system's libhttp_parser, which libFuzzer cannot see into; for long
# runs, FUZZ_HTTP_PARSER=path/to/http_parser.c builds the parser with coverage instead: a
# source whose struct matches /usr/include/http_parser.h (tests/fuzz/README.md says which).
FUZZ_HTTP_PARSER ?=
FUZZ_PARSER_CFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all

fuzz-build: deps-ci deps
	@test -f build-fuzz/build.ninja || \
	  CC=clang $(MESON) setup build-fuzz --buildtype=debugoptimized -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
	ninja -C build-fuzz libweft.a libweft_dist.a
	clang $(FUZZ_CFLAGS) -Iinclude tests/fuzz/fuzz_stream.c build-fuzz/libweft.a -lpthread \
	  -o build-fuzz/fuzz_stream
	clang $(FUZZ_CFLAGS) -Iinclude -Isrc tests/fuzz/fuzz_procpool.c build-fuzz/libweft.a \
	  -lpthread -o build-fuzz/fuzz_procpool
	clang $(FUZZ_CFLAGS) -Iinclude -Isrc tests/fuzz/fuzz_dist.c build-fuzz/libweft_dist.a \
	  build-fuzz/libweft.a -lhiredis -lpthread -o build-fuzz/fuzz_dist
	$(if $(FUZZ_HTTP_PARSER),clang -g -O1 $(FUZZ_PARSER_CFLAGS) -c $(FUZZ_HTTP_PARSER) \
	  -o build-fuzz/http_parser.o)
	clang $(FUZZ_CFLAGS) -Iinclude -Iexamples tests/fuzz/fuzz_http.c examples/httpd_reader.c \
	  $(if $(FUZZ_HTTP_PARSER),build-fuzz/http_parser.o,-lhttp_parser) -o build-fuzz/fuzz_http

fuzz: fuzz-build
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

PREFIX ?= /usr/local
install: deps
	@test -f build-install/build.ninja || \
	  $(MESON) setup build-install --prefix=$(PREFIX) --buildtype=release -Db_ndebug=true
	$(MESON) configure build-install --prefix=$(PREFIX)
	ninja -C build-install
	$(MESON) install -C build-install

test-install: deps-ci
	tools/outside_build.sh

deb:
	@tools/deps.sh deb
	tools/deb.sh build-deb

docs:
	@tools/deps.sh docs
	tools/docs.sh build-docs

clean:
	rm -rf build build-install build-release build-asan build-asan0 build-tsan build-perturb build-aarch64 build-fuzz build-deb build-docs
