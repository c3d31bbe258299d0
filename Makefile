# Flowscope build: probes (clang -target bpf) -> skeletons, protobuf-c from proto/, flowd, flowctl,
# tests and benchmarks. Everything generated goes to build/.

BUILD     ?= build
CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PROTOC_C  ?= protoc-c
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

PKGS      := libbpf libuv libmicrohttpd libprotobuf-c libnghttp2 openssl yaml-0.1
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lelf -lz -lzstd -lm
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Werror -Iinclude -I$(BUILD) -I$(BUILD)/proto $(PKG_CFLAGS)
# SAN=1: everything built by clang with ASan and UBSan, any report fatal (make test builds
# $(SAN_BUILD) so); FUZZ=1: the same with libFuzzer's coverage in every object, for make fuzz
# ($(FUZZ_BUILD)). make test's brief fuzz runs link the targets against $(SAN_BUILD)'s library
# (coverage of the targets only): the corpus and its mutations, without a second build, and
# without coverage callbacks slowing the sanitized suites.
SAN_BUILD  ?= build/san
FUZZ_BUILD ?= build/fuzz
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifneq ($(SAN)$(FUZZ),)
CC        := $(CLANG)
CFLAGS    += $(SAN_FLAGS)
endif
ifneq ($(FUZZ),)
CFLAGS    += -fsanitize=fuzzer-no-link
endif
# Generated protobuf-c code is not ours to warn about.
PB_CFLAGS := $(filter-out -Werror,$(CFLAGS)) -Wno-unused-parameter
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -I$(BUILD)

PROBES    := $(patsubst probes/%.bpf.c,%,$(wildcard probes/*.bpf.c))
SKELS     := $(patsubst %,$(BUILD)/%.skel.h,$(PROBES))
PROTOS    := $(wildcard proto/*.proto)
WKT       := google/protobuf/timestamp.proto google/protobuf/wrappers.proto \
	google/protobuf/duration.proto google/protobuf/any.proto google/protobuf/field_mask.proto
PB_SRCS   := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTOS)) \
	$(patsubst %.proto,$(BUILD)/proto/%.pb-c.c,$(WKT))
PB_OBJS   := $(PB_SRCS:.c=.o)

# The library: everything but the binaries' mains (daemon/, cli/flowctl.c), in layer order.
LIB_DIRS  := base probes collector/enrich collector/pipeline collector/graph collector/filter \
	collector/history export/encode export/exporters export/serve relay cli
LIB_SRCS  := $(filter-out %.bpf.c cli/flowctl.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB       := $(BUILD)/libflowscope.a

TEST_SRCS := $(wildcard tests/*/test_*.c)
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
WEB_SRCS  := $(wildcard web/*.html web/*.js web/*.css)
WEB_STAMP := $(BUILD)/web/.built
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZERS   := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
# make fuzz: each target this long (seconds); make test: each this long.
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 3

.PHONY: all deps test-deps bench-deps run test tests san fuzz fuzz-targets fuzz-seeds bench demo-cluster clean format \
	check-format check-tree
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/flowd $(BUILD)/flowctl $(BUILD)/flowrelay $(WEB_STAMP)

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

bench-deps:
	@scripts/install-deps.sh bench

# `make run`: install what is missing, build, start flowd in the foreground on every interface.
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/flowd $(FLOWD_ARGS)

# `make test`: install what is missing, check the format and the tree's layering, build, run
# every test (unit, BPF, end-to-end).
test: test-deps
	@$(MAKE) --no-print-directory check-format check-tree
	@$(MAKE) --no-print-directory -j$$(nproc) all tests
	@$(MAKE) --no-print-directory san
	@SAN_BUILD=$(SAN_BUILD) FUZZ_BUILD=$(SAN_BUILD) FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) \
		tests/run-all.sh $(BUILD)

tests: $(TESTS)

# The binaries, the unit and BPF suites and the fuzz targets under ASan + UBSan (run-all.sh runs
# the suites, e2e_flows.sh with that flowd and flowctl, and each fuzz target briefly).
san:
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=$(SAN_BUILD) SAN=1 \
		$(SAN_BUILD)/flowd $(SAN_BUILD)/flowctl tests fuzz-targets

# libFuzzer targets (fuzz/fuzz_*.c); `make fuzz` runs each for FUZZ_SECONDS from its corpus
# (fuzz/corpus/TARGET) and fails on any finding.
fuzz-targets: $(FUZZERS)

fuzz: test-deps
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=$(FUZZ_BUILD) FUZZ=1 fuzz-targets
	@fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The seed corpora (fuzz/corpus/TARGET), written by fuzz/make_seeds.c; run by hand when an input
# kind changes, and commit what it wrote.
fuzz-seeds:
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=$(FUZZ_BUILD) FUZZ=1 $(FUZZ_BUILD)/fuzz/make_seeds
	$(FUZZ_BUILD)/fuzz/make_seeds fuzz/corpus

# `make demo-cluster`: DEMO_NODES agents (16), each in its own network namespace, a relay in
# this one (dashboard http://127.0.0.1:12000), traffic between them; Ctrl-C removes it all.
DEMO_NODES ?= 16
demo-cluster: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo-cluster.sh $(BUILD) $(DEMO_NODES)

bench: bench-deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@bench/run-all.sh $(BUILD)

# The dashboard: our files plus cytoscape from npm (pinned by web/package-lock.json), served
# by flowd from $(BUILD)/web. No CDN: everything it loads is in there.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_STAMP): $(WEB_SRCS) web/node_modules/.package-lock.json
	@mkdir -p $(BUILD)/web/vendor
	cp $(WEB_SRCS) $(BUILD)/web/
	cp web/node_modules/cytoscape/dist/cytoscape.min.js $(BUILD)/web/vendor/
	@touch $@

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/%.bpf.o: probes/%.bpf.c include/flowscope/record.h $(wildcard probes/*.h) $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/proto
	$(PROTOC_C) --c_out=$(BUILD)/proto -Iproto -I/usr/include $<

$(BUILD)/proto/google/protobuf/%.pb-c.c $(BUILD)/proto/google/protobuf/%.pb-c.h: \
		/usr/include/google/protobuf/%.proto
	@mkdir -p $(BUILD)/proto
	$(PROTOC_C) --c_out=$(BUILD)/proto -I/usr/include google/protobuf/$*.proto

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	$(CC) $(PB_CFLAGS) -c $< -o $@

# Header dependencies come from the compiler (-MMD); the generated headers must exist first.
$(BUILD)/obj/%.o: %.c | $(SKELS) $(PB_SRCS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(if $(filter tests/% bench/% fuzz/%,$<),-Itests) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

$(LIB): $(LIB_OBJS) $(PB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/flowd: $(BUILD)/obj/daemon/flowd.o $(LIB)
	$(CC) $(CFLAGS) $^ $(PKG_LIBS) -o $@

$(BUILD)/flowctl: $(BUILD)/obj/cli/flowctl.o $(LIB)
	$(CC) $(CFLAGS) $^ $(PKG_LIBS) -o $@

$(BUILD)/flowrelay: $(BUILD)/obj/daemon/flowrelay.o $(LIB)
	$(CC) $(CFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(PKG_LIBS) $(CHECK_LIBS) -o $@

# The targets themselves always have libFuzzer's coverage (libFuzzer needs some to run).
$(BUILD)/obj/fuzz/%.o: CFLAGS += -fsanitize=fuzzer-no-link

$(BUILD)/fuzz/make_seeds: $(BUILD)/obj/fuzz/make_seeds.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(PKG_LIBS) -o $@

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $^ $(PKG_LIBS) -o $@

# The history engines' benchmark compares SQLite and zstd-compressed blocks.
$(BUILD)/bench/bench_history: BENCH_LIBS = -lsqlite3
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(PKG_LIBS) $(BENCH_LIBS) -lm -o $@

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_SRCS)

check-format:
	@clang-format --dry-run -Werror $(FORMAT_SRCS) && echo "check-format: ok"

# Includes run downward only, no function over 150 lines, every file says what it is for.
check-tree:
	@python3 scripts/check-tree.py

clean:
	rm -rf $(BUILD)
