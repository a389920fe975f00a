# rollcall — one Makefile: build, test, demo, install.
#
#   make            build build/rollcall
#   make test       install missing packages, build, run every test
#   make sanitize   every test built with ASan, UBSan and LSan
#   make tsan       the service, run and delivery tests built with ThreadSanitizer (clang)
#   make memcheck   the end-to-end tests with rollcall under valgrind
#   make demo       install missing packages, build, load the example data, show figures
#   make bench      national-scale figures vs raw SQLite and json-rules-engine (PUPILS=, DAYS=, RUNS=; docs/PERFORMANCE.md)
#   make bench-national  the day batch at 8.5 million pupils
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 60)
#   make format     apply .clang-format

CC       = gcc
CFLAGS  ?= -O2 -g
PKGS     = lua5.4 sqlite3 jansson libcurl libcrypto libmicrohttpd
WARN     = -Wall -Wextra -Wpedantic -std=c11
CPPFLAGS = -D_POSIX_C_SOURCE=200809L $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
PREFIX  ?= /usr/local
B        = build

ENGINE  = $(filter-out engine/main.c, $(wildcard engine/*.c))
OBJS    = $(ENGINE:engine/%.c=$(B)/%.o)
TESTS   = $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))

all: $(B)/rollcall $(B)/gen $(B)/receiver

$(B)/%.o: engine/%.c $(wildcard engine/*.h) | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/librollcall.a: $(OBJS)
	$(AR) rcs $@ $^

$(B)/rollcall: $(B)/main.o $(B)/librollcall.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/gen: examples/gen.c $(B)/librollcall.a
	$(CC) $(CPPFLAGS) -Iengine $(WARN) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/receiver: examples/receiver.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -lmicrohttpd -ljansson -lcrypto -lpthread

$(B)/bench-figures: bench/figures.c $(B)/librollcall.a
	$(CC) $(CPPFLAGS) -Iengine $(WARN) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/trickle: bench/trickle.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -lsqlite3

# make bench: the programs bench/run drives (bench/*.c, one each).
BENCH_TOOLS = $(B)/bench-figures $(B)/trickle $(B)/bench-rawinsert $(B)/bench-writer \
	      $(B)/bench-export $(B)/bench-evaluate $(B)/bench-apiload

$(B)/bench-rawinsert: bench/rawinsert.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -lsqlite3

$(B)/bench-writer: bench/writer.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -lsqlite3

$(B)/bench-export: bench/export.c $(B)/librollcall.a
	$(CC) $(CPPFLAGS) -Iengine $(WARN) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench-apiload: bench/apiload.c | $(B)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< -lcurl

$(B)/bench-evaluate: bench/evaluate.c $(B)/librollcall.a
	$(CC) $(CPPFLAGS) -Iengine $(WARN) $(CFLAGS) -o $@ $^ $(LDLIBS)

# json-rules-engine, the peer, at the version bench/package-lock.json pins.
PEER = bench/node_modules/json-rules-engine/package.json

$(PEER): bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	touch $@

$(B)/tests/%: tests/%.c tests/testutil.h tests/e2e.h $(B)/librollcall.a | $(B)
	@mkdir -p $(B)/tests
	$(CC) $(CPPFLAGS) -Iengine -Itests $(WARN) $(CFLAGS) -o $@ $< $(B)/librollcall.a \
		$(LDLIBS) -lcmocka

# The API's tests read docs/api.yaml with libyaml, and share tests/apitest.h.
$(B)/tests/test_api $(B)/tests/test_api_hostile: LDLIBS += -lyaml
$(B)/tests/test_api $(B)/tests/test_api_hostile: tests/apitest.h

$(B):
	mkdir -p $(B)

# rollcall report writes Chart.js into every page, so the binary carries it:
# npm fetches the version report/package-lock.json pins when node_modules is
# missing (a fresh clone), tools/embed.c turns it, its licence and the page's
# script and style into C. A '</script' or '<!--' in them would end or
# confuse the page's <script>, and '*/' in the licence its comment.
CHARTJS = report/node_modules/chart.js/dist/chart.umd.js
REPORT_ASSETS = report_chartjs $(CHARTJS) report_chartjs_licence report/LICENSE.chart.js.md \
		report_page_js report/page.js report_page_css report/page.css

$(CHARTJS): report/package.json report/package-lock.json
	cd report && npm ci --no-audit --no-fund
	touch $@

$(B)/embed: tools/embed.c | $(B)
	$(CC) $(WARN) -O2 -o $@ $<

$(B)/report_assets.c: $(B)/embed $(filter-out report_%,$(REPORT_ASSETS))
	@if grep -il -e '</script' -e '<!--' $(filter-out report_%,$(REPORT_ASSETS)) || \
	    grep -l '\*/' report/LICENSE.chart.js.md; then \
		echo "these would break the report's <script>" >&2; exit 1; fi
	$(B)/embed $@ $(REPORT_ASSETS)

$(B)/report_assets.o: $(B)/report_assets.c
	$(CC) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/librollcall.a: $(B)/report_assets.o

# The web console `rollcall serve` gives at / (docs/CONSOLE.md) is embedded
# the same way: its page and script, the styles compiled from GOV.UK
# Frontend's Sass by sass (both at the versions console/package-lock.json
# pins; the same npm install brings the browser tests' puppeteer-core and
# axe-core), GOV.UK Frontend's script, and the licences; Chart.js is the
# report's copy.
CONSOLE_NPM = console/node_modules/.package-lock.json
GOVUK_JS    = console/node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js
CONSOLE_ASSETS = console_index_html console/index.html console_js console/console.js \
		 console_css $(B)/console.css console_govuk_js $(GOVUK_JS) \
		 console_licences $(B)/console-licences.txt console_icon console/icon.svg

$(CONSOLE_NPM): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	touch $@

$(GOVUK_JS): $(CONSOLE_NPM)

$(B)/console.css: console/console.scss console/_rollcall.scss $(CONSOLE_NPM) | $(B)
	console/node_modules/.bin/sass --no-source-map --style=compressed \
		--load-path=console/node_modules console/console.scss $@

$(B)/console-licences.txt: console/LICENSE.govuk-frontend.md report/LICENSE.chart.js.md | $(B)
	cat $^ >$@

$(B)/console_assets.c: $(B)/embed $(filter-out console_%,$(CONSOLE_ASSETS))
	$(B)/embed $@ $(CONSOLE_ASSETS)

$(B)/console_assets.o: $(B)/console_assets.c
	$(CC) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/librollcall.a: $(B)/console_assets.o

# Fuzzing: the engine built again with clang's libFuzzer instrumentation and
# ASan + UBSan; each target runs FUZZ_SECONDS on its corpus (tests/fuzz/).
F             = $(B)/fuzz
FUZZ_TARGETS  = csv config policy luajson text
FUZZ_SECONDS ?= 60
FUZZ_FLAGS    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined

$(F)/%.o: engine/%.c $(wildcard engine/*.h)
	@mkdir -p $(F)
	clang $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(F)/librollcall.a: $(ENGINE:engine/%.c=$(F)/%.o)
	$(AR) rcs $@ $^

$(F)/fuzz_%: tests/fuzz/fuzz_%.c $(F)/librollcall.a
	clang $(CPPFLAGS) -Iengine $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

deps:
	@sh tools/deps

test: deps
	@$(MAKE) --no-print-directory check

# The official npm standardwebhooks library and Ajv, at the versions
# tests/node/package-lock.json pins: test_webhooks verifies what its receiver
# got with them (tests/node/verify.js).
NODE_CHECKS = tests/node/node_modules/standardwebhooks/package.json

$(NODE_CHECKS): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $@

# Every test, against the binaries of this build directory.
check: all $(TESTS) $(NODE_CHECKS)
	@ROLLCALL_BUILD=$(B) sh tests/run $(TESTS)

# The whole suite again with AddressSanitizer, UndefinedBehaviorSanitizer and
# LeakSanitizer, in a build directory of its own: any report fails a test.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=all
sanitize: deps
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(MAKE) --no-print-directory B=$(B)/sanitize CFLAGS="$(SAN_FLAGS)" check

# The tests of the service, of run and of delivery (the code that runs on
# several threads: evaluation, the sender) built with ThreadSanitizer, by
# clang, in a build directory of its own. Every instrumented process, the
# rollcall children included, writes its reports under $(B)/tsan/reports
# (log_path): a report fails the run even from a child that a test killed
# or whose exit status it does not look at (halt_on_error stops the process
# at its first report, with exit status 66). test_run and test_deliver run
# (and test_api, rollcall serve's thread pool over every route) with a
# no-op wrapper (env), which makes them skip their peak-RSS bounds as
# under valgrind: those bound rollcall, and TSan's shadow memory is not
# rollcall's. test_daemon runs without one, so that its kills at random
# moments (skipped under a wrapper) run instrumented too.
TSAN_FLAGS   = -O1 -g -fno-omit-frame-pointer -fsanitize=thread
TSAN_REPORTS = $(abspath $(B))/tsan/reports
tsan: deps
	@$(MAKE) --no-print-directory B=$(B)/tsan CC=clang CFLAGS="$(TSAN_FLAGS)" all \
		$(B)/tsan/tests/test_daemon $(B)/tsan/tests/test_run $(B)/tsan/tests/test_deliver \
		$(B)/tsan/tests/test_api
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	@export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 \
		log_path=$(TSAN_REPORTS)/report" ROLLCALL_BUILD=$(B)/tsan; status=0; \
	sh tests/run $(B)/tsan/tests/test_daemon || status=1; \
	ROLLCALL_WRAP=env sh tests/run $(B)/tsan/tests/test_run $(B)/tsan/tests/test_deliver \
		$(B)/tsan/tests/test_api || status=1; \
	if ls $(TSAN_REPORTS)/report.* >/dev/null 2>&1; then \
		cat $(TSAN_REPORTS)/report.*; echo "ThreadSanitizer reported: see $(TSAN_REPORTS)"; \
		exit 1; fi; exit $$status

# The end-to-end tests with every rollcall command under valgrind's memcheck.
MEMCHECK = valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite
memcheck: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@ROLLCALL_BUILD=$(B) ROLLCALL_WRAP="$(MEMCHECK)" sh tests/run \
		$(filter %/test_cli %/test_run %/test_deliver %/test_daemon %/test_report,$(TESTS))

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/demo

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_TOOLS) $(PEER)
	@sh bench/run

# The day batch at England's size: 8.5 million pupils, 20 days of history
# (about 60 GB of disk and 25 minutes the first time; docs/PERFORMANCE.md).
bench-national: deps
	@$(MAKE) --no-print-directory all $(BENCH_TOOLS)
	@sh bench/national

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(F)/fuzz_%)
	@sh tests/fuzz/run $(F) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	clang-format -i engine/*.c engine/*.h tests/*.c tests/*.h tests/fuzz/*.c examples/*.c bench/*.c

install: $(B)/rollcall
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(B)/rollcall $(DESTDIR)$(PREFIX)/bin/rollcall
	install -m 644 docs/rollcall.1 $(DESTDIR)$(PREFIX)/share/man/man1/rollcall.1

clean:
	rm -rf $(B)

.PHONY: all deps test check sanitize tsan memcheck demo bench bench-national fuzz format install clean
