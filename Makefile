# Item-item similarity pipeline. `make run` runs the job on the embedded
# Prism runner over the committed fixture; `make test` runs every test.
GO        ?= go
BIN       := bin
INPUT     ?= testdata/interactions.csv
OUTPUT    ?= out/similarities.jsonl
POPULAR   ?= out/popular.json
ADDR      ?= 127.0.0.1:8080
ML100K    ?= ../shared/datasets/ml-100k/u.data
ARGS      ?=
FUZZTIME  ?= 10s
TRANSFORMS := ./transforms/interactions ./transforms/scoring ./transforms/dimsum ./transforms/topn ./transforms/textsink ./transforms/popularity ./transforms/als

.PHONY: all build run run-als run-realtime run-realtime-kafka serve serve-als daily evaluate bench bench-sampling bench-deps test test-direct vet fuzz

all: build

build:
	$(GO) build -o $(BIN)/similarity ./pipelines/similarity
	$(GO) build -o $(BIN)/als ./pipelines/als
	$(GO) build -o $(BIN)/realtime ./pipelines/realtime
	$(GO) build -o $(BIN)/serving ./serving

## run: the similarity job on Prism over $(INPUT), writing $(OUTPUT).
run: build
	$(BIN)/similarity --input=$(INPUT) --output=$(OUTPUT) --popular_output=$(POPULAR) $(ARGS)

## run-als: the ALS job on Prism over $(INPUT) (implicit, the job's
## defaults), writing item neighbours, user lists, item factors, the
## popular list and the manifest into $(ALS_OUT).
ALS_OUT ?= out/als
run-als: build
	$(BIN)/als --input=$(INPUT) --output=$(ALS_OUT)/similarities.jsonl --user_output=$(ALS_OUT)/users.jsonl \
		--item_factors_output=$(ALS_OUT)/item_factors.jsonl --popular_output=$(ALS_OUT)/popular.json $(ARGS)

## run-realtime: the streaming job on Prism, replaying $(INPUT) in event
## time (a 10-day window sliding by a day, lists written once a day of
## event time), writing the list updates as parts $(RT_OUT)-*.jsonl (the
## hot lists, users' recent items and dead letter beside them). With
## KAFKA=host:port it reads topic $(KAFKA_TOPIC) of that Kafka instead
## (JSON messages, from the earliest record, until stopped).
RT_OUT ?= out/realtime/updates
RT_MODEL = --time_field=time --window=240h --slice=24h --emit_interval=24h --user_shards=2 --item_shards=2 --output=$(RT_OUT)
KAFKA ?=
KAFKA_TOPIC ?= events
run-realtime: build
	$(BIN)/realtime $(if $(KAFKA),--kafka_brokers=$(KAFKA) --kafka_topic=$(KAFKA_TOPIC) --kafka_start=earliest,--input=$(INPUT)) \
		$(RT_MODEL) $(ARGS)

## run-realtime-kafka: the same job against a local Kafka, with none
## installed: runners/kafkalocal (franz-go's in-process broker) on
## 127.0.0.1:$(KAFKA_PORT) holds $(INPUT)'s events in topic events, one
## user's to one of 4 partitions in time order; the job reads them to the
## end offsets at its launch, then the broker stops.
KAFKA_PORT ?= 9092
run-realtime-kafka: build
	$(GO) build -o $(BIN)/kafkalocal ./runners/kafkalocal
	@$(BIN)/kafkalocal --port=$(KAFKA_PORT) --input=$(INPUT) > $(BIN)/kafkalocal.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 300); do \
		grep -q '^ready' $(BIN)/kafkalocal.log && break; \
		kill -0 $$pid 2>/dev/null || { cat $(BIN)/kafkalocal.log; exit 1; }; sleep 0.1; \
	done; \
	cat $(BIN)/kafkalocal.log; \
	$(BIN)/realtime --kafka_brokers=127.0.0.1:$(KAFKA_PORT) --kafka_topic=events --kafka_start=earliest \
		--kafka_stop_at_end=true --kafka_idle_lag=0 $(RT_MODEL) $(ARGS)

## serve-als: the recommendation server over `make run-als`'s output (user
## lists and fold-in as well as the item routes).
serve-als: run-als
	$(GO) run ./serving --similarities=$(ALS_OUT)/similarities.jsonl --addr=$(ADDR)

## serve: the recommendation server on 127.0.0.1:8080 over `make run`'s output.
serve: run
	$(GO) run ./serving --similarities=$(OUTPUT) --popular=$(POPULAR) --addr=$(ADDR)

## daily: the nightly loop on Prism over DAILY_DIR, one gzip CSV of events
## per day named YYYY-MM-DD.csv.gz (the seed's daily export), oldest first:
## each day's run reads the DAILY_WINDOW of events ending at that day's end
## into DAILY_OUT (files, a manifest; ARGS=--datastore_project=... for
## Datastore too). A day already published, or older than the published
## one, is skipped by the job itself, so the loop can run every night.
DAILY_DIR    ?= testdata/daily
DAILY_OUT    ?= out/daily
DAILY_WINDOW ?= 24h
DAILY_ARGS   ?= --time_field=time
daily: build
	@mkdir -p $(DAILY_OUT)/logs; for f in $(DAILY_DIR)/*.csv.gz; do \
		day=$$(basename "$$f" .csv.gz); log=$(DAILY_OUT)/logs/$$day.log; \
		$(BIN)/similarity --input='$(DAILY_DIR)/*.csv.gz' --run_time=$$day --until=24h --window=$(DAILY_WINDOW) \
			--output=$(DAILY_OUT)/similarities.jsonl --popular_output=$(DAILY_OUT)/popular.json $(DAILY_ARGS) $(ARGS) >$$log 2>&1 \
			|| { cat $$log; echo "daily: $$day failed (log: $$log)" >&2; exit 1; }; \
		echo "daily: $$day"; grep -E '^(window:|similarity: (refused|version)|wall time)' $$log | sed 's/^/  /'; \
	done

## evaluate: offline quality (precision, recall, nDCG, MAP@10) on MovieLens 100K.
evaluate:
	$(GO) run ./pipelines/evaluate --input=$(ML100K) --format=tsv --header=false \
		--user_field=0 --item_field=1 --score_field=2 --top_n=10 --report=out/evaluation.json

## bench: speed, memory, shuffle and accuracy against the vectorised pandas
## peer and the Go limit, plus the sampling series and the ALS section,
## written to docs/bench (BENCH=quick: MovieLens and the 100k set only, no
## ALS).
bench: bench-deps
	$(GO) run ./bench/cmd/bench --out=docs/bench $(if $(filter quick,$(BENCH)),--quick)

## bench-als: only the ALS section (docs/bench/als.md), into docs/bench's
## results: seconds per iteration of the ALS pipeline on Prism, the Go
## reference and the numpy peer at ranks 32 and 64 on MovieLens 100K,
## synth-1M and synth-10M (implicit; MovieLens explicit too), 10
## iterations, 3 rounds, and the pipeline's peak RSS. Other --als_* flags
## go in ALS_ARGS, e.g. ALS_ARGS='--out=/tmp/als --als_datasets=ml-100k
## --als_ranks=8 --als_iterations=2 --als_repeat=1' for a smoke run.
.PHONY: bench-als
ALS_ARGS ?=
bench-als: bench-deps
	$(GO) run ./bench/cmd/bench --out=docs/bench --als_only $(ALS_ARGS)

## bench-sampling: only the series where DIMSUM's sampling engages (500
## items, FACTORS=1,2,4,8 times 100k users), into docs/bench's results.
FACTORS ?= 1,2,4,8
bench-sampling: bench-deps
	$(GO) run ./bench/cmd/bench --out=docs/bench --sampling_only --scale_factors=$(FACTORS)

## bench-realtime: the streaming job live on Prism, fed a synthetic
## power-law stream through kfake at each of RATES events/s for DURATION:
## sustained rate, freshness p50/p99 (produce → written list; and, with
## SERVING_BIN=bin/serving and the Datastore emulator, produce → shown by the
## server following the live layout) and peak RSS, into docs/bench/realtime.md.
.PHONY: bench-realtime
RATES ?= 1000,2000,5000,10000,20000
DURATION ?= 1m
SERVING_BIN ?=
JOB_ARGS ?=
bench-realtime: build
	$(GO) run ./bench/cmd/realtime --bin=$(BIN)/realtime --serving_bin=$(SERVING_BIN) --out=docs/bench --rates=$(RATES) --duration=$(DURATION) \
		--job_args='$(JOB_ARGS)'

## bench-deps: Debian's pandas, scipy, numpy and threadpoolctl for the
## pandas peer (/usr/bin/python3).
bench-deps:
	@/usr/bin/python3 -c 'import pandas, scipy, threadpoolctl' 2>/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq python3-pandas python3-scipy python3-numpy python3-threadpoolctl; }

## test: vet and every test, on Prism.
test: vet
	$(GO) test -timeout 30m ./...

## test-direct: the transform tests on Beam's legacy direct runner.
test-direct:
	$(GO) test -count=1 $(TRANSFORMS) -args --runner=direct

vet:
	$(GO) vet ./...

## fuzz: each parser and coder fuzz target for $(FUZZTIME) (.ci/fuzz-one retries
## once a run that fails only with Go 1.26's fuzz-deadline race).
fuzz:
	GO=$(GO) .ci/fuzz-one FuzzSplitCSV ./transforms/interactions $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzParse ./transforms/interactions $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzDecodeBatch ./transforms/interactions $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzDecode ./transforms/scoring $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzParseWeights ./model $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzDecodePartialRow ./transforms/dimsum $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzDecode ./internal/exactsum $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzAppendResult ./serving $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzAppendQuery ./serving $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzParse ./publish $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzDecodeBlock ./transforms/als $(FUZZTIME)
	GO=$(GO) .ci/fuzz-one FuzzDecode ./transforms/incremental $(FUZZTIME)

-include runners/runners.mk templates/dataflow/template.mk templates/dataflow/schedule.mk

## loadtest: start the server and load it with 1- and 10-item requests (wrk
## when installed, else the Go generator), printing req/s, p50 and p99; on
## `make run`'s $(OUTPUT), or SIMILARITIES=path [POPULAR=path]. MIX selects
## the requests, comma-separated: make (the seed API, the default), als
## (fold-in POSTs, "model":"als"), knn (the same POSTs scored by
## neighbours), users (GET /v1/users/{user}/recommendations); als and users
## run on a synthetic MovieLens-1M-sized rank-64 ALS run (SYNTH_FLAGS:
## loadtest's --synth_* flags) unless SIMILARITIES names an ALS run's
## output. Flags for ./serving/loadtest go in LOADTEST_ARGS, e.g.
## --concurrency=1,2,4,8.
.PHONY: loadtest
LOADTEST_ARGS ?=
MIX ?= make
loadtest_comma := ,
# The ALS mixes asked for without an ALS run to load: run.sh makes one.
loadtest_synth = $(if $(SIMILARITIES),,$(filter als users,$(subst $(loadtest_comma), ,$(MIX))))
loadtest: $(if $(or $(SIMILARITIES),$(loadtest_synth)),,run)
	MIX='$(MIX)' SYNTH_FLAGS='$(SYNTH_FLAGS)' SIMILARITIES='$(if $(loadtest_synth),,$(or $(SIMILARITIES),$(OUTPUT)))' \
	POPULAR='$(if $(SIMILARITIES),$(if $(filter command line environment,$(origin POPULAR)),$(POPULAR)),$(POPULAR))' \
		serving/loadtest/run.sh $(LOADTEST_ARGS)

## datastore-emulator: the Cloud Datastore emulator in the foreground on
## 127.0.0.1:$(DATASTORE_PORT), in memory, every write applied at once
## (--consistency=1.0). In another shell, run the export line it prints,
## then the job and the server with --datastore_project=any-name (see
## docs/datastore.md). Stop it with Ctrl-C or
## `curl -X POST 127.0.0.1:$(DATASTORE_PORT)/shutdown` (killing the
## launcher alone leaves its java running). Needs the gcloud component
## cloud-datastore-emulator and Java 11+.
.PHONY: datastore-emulator
DATASTORE_PORT ?= 8081
datastore-emulator:
	@sdk="$$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null)"; \
	launcher="$${sdk:-/usr/lib/google-cloud-sdk}/platform/cloud-datastore-emulator/cloud_datastore_emulator"; \
	[ -x "$$launcher" ] && command -v java >/dev/null || { \
		echo "datastore-emulator: need $$launcher (gcloud component cloud-datastore-emulator, Debian package google-cloud-cli-datastore-emulator) and java on PATH" >&2; exit 1; }; \
	echo "export DATASTORE_EMULATOR_HOST=127.0.0.1:$(DATASTORE_PORT)"; \
	cd "$$(mktemp -d)" && exec "$$launcher" start --host=127.0.0.1 --port=$(DATASTORE_PORT) \
		--store_on_disk=false --store_index_configuration_on_disk=false --consistency=1.0

## test-race: the race detector over the packages that run goroutines (the
## readers, parallel, scoring, dimsum, serving, recommend); needs cgo (gcc).
.PHONY: test-race
RACE_PKGS := ./transforms/interactions ./transforms/kafkaio ./internal/parallel ./transforms/scoring ./transforms/dimsum ./serving ./recommend
test-race:
	$(GO) test -race -count=1 -timeout 60m $(RACE_PKGS)

## evaluate-sweep: the measures and scoring options of
## pipelines/evaluate/sweep.json on MovieLens 100K (ratings as scores, and
## as binary), the REES46 and the Taobao samples in the directory
## DATASETS names (environment; default ../shared/datasets), each skipped
## with a message when absent, into docs/evaluate/<dataset>.{md,json,png}
## (see docs/evaluate/README.md).
.PHONY: evaluate-sweep
evaluate-sweep:
	$(GO) build -o $(BIN)/evaluate ./pipelines/evaluate
	@d="$${DATASETS:-../shared/datasets}"; \
	sweep() { name=$$1; in=$$2; shift 2; \
		if [ ! -f "$$in" ]; then echo "evaluate-sweep: $$name skipped: no $$in"; return 0; fi; \
		echo "evaluate-sweep: $$name"; \
		$(BIN)/evaluate --sweep=pipelines/evaluate/sweep.json --sweep_out=docs/evaluate/$$name --input="$$in" "$$@"; }; \
	sweep ml100k-scores "$$d/ml-100k/u.data" --format=tsv --header=false --user_field=0 --item_field=1 --score_field=2 && \
	sweep ml100k-binary "$$d/ml-100k/u.data" --format=tsv --header=false --user_field=0 --item_field=1 --score_field=2 --clip_score=1 && \
	sweep rees46 "$$d/rees46-2019-oct-sample/2019-Oct.csv" --user_field=user_id --item_field=product_id \
		--action_field=event_type --time_field=event_time --weights=view:0.5,cart:2,purchase:6 --split=time && \
	sweep taobao "$$d/taobao-userbehavior-sample/UserBehavior.csv" --format=csv --header=false --user_field=0 --item_field=1 \
		--action_field=3 --time_field=4 --weights=pv:0.5,fav:1,cart:2,buy:6 --split=time

## evaluate-als: on MovieLens 100K, implicit ALS beside item-kNN (the
## sweep's best setting, RP3beta) and popularity in one table
## (out/evaluate-als.json), then the explicit ALS RMSE sweep of
## ALS_RMSE_GRID (out/evaluate-als-rmse.{md,json,png}); see
## docs/evaluate/als.md.
ALS_RMSE_GRID ?= ranks=10,20,50,100;lambdas=0.05,0.1,0.12,0.15,0.2;iterations=20
.PHONY: evaluate-als
evaluate-als:
	@mkdir -p out
	$(GO) build -o $(BIN)/evaluate ./pipelines/evaluate
	$(BIN)/evaluate --input=$(ML100K) --format=tsv --header=false --user_field=0 --item_field=1 --score_field=2 \
		--measure=rp3beta --rp3_beta=0.6 --top_n=300 --report=out/evaluate-als.json
	$(BIN)/evaluate --input=$(ML100K) --format=tsv --header=false --user_field=0 --item_field=1 --score_field=2 \
		--als_rmse_sweep='$(ALS_RMSE_GRID)' --als_rmse_out=out/evaluate-als-rmse
