# Launches of pipelines/similarity, or of another job with PIPELINE=als, on
# remote runners, included by the main Makefile (run from the module root).
# See runners/flink/README.md.
#
#   make run-flink ENDPOINT=localhost:8099 [ENV_TYPE=EXTERNAL] [ENV_CONFIG=localhost:50000]
#                  [PARALLELISM=4] [INPUT=/data/in.csv] [OUTPUT=/data/out.jsonl] [PIPELINE=als] [ARGS=...]
#   make run-flink ENDPOINT=localhost:8099 PIPELINE=realtime INPUT= OUTPUT=/data/rt/updates \
#                  ARGS='--kafka_brokers=kafka:9092 --kafka_topic=interactions'   # the streaming job on Kafka
#   make run-dataflow PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket
#                  (or STAGING=gs://my-bucket/staging) INPUT=gs://... OUTPUT=gs://... [PIPELINE=als] [ARGS=...]
#
# Both build the static linux/amd64 binary the workers run (CGO_ENABLED=0)
# and ship it as --worker_binary, so nothing is compiled at launch. INPUT
# and OUTPUT default to the main Makefile's; with Flink's EXTERNAL or
# DOCKER workers they must be paths the workers see too (gs://, or a shared
# directory mounted at the same path), with Dataflow gs:// or bq://; so
# must the other files ARGS names (ALS's --user_output and the factors).

RUNNERS_GO      ?= $(or $(GO),go)
RUNNERS_BINDIR  ?= $(or $(BIN),bin)
# The job: pipelines/$(PIPELINE).
PIPELINE        ?= similarity
# What the workers run: always linux/amd64, static.
RUNNERS_WORKER  := $(RUNNERS_BINDIR)/$(PIPELINE)-linux-amd64
# What launches the job: the worker binary itself on a linux/amd64 host,
# else a native build.
RUNNERS_HOST     = $(shell $(RUNNERS_GO) env GOOS)/$(shell $(RUNNERS_GO) env GOARCH)
RUNNERS_LAUNCHER = $(if $(filter linux/amd64,$(RUNNERS_HOST)),$(RUNNERS_WORKER),$(RUNNERS_BINDIR)/$(PIPELINE))

# Flink: the worker pool sidecars of runners/flink/compose.yaml by default.
ENV_TYPE        ?= EXTERNAL
ENV_CONFIG      ?= $(if $(filter EXTERNAL,$(ENV_TYPE)),localhost:50000)
PARALLELISM     ?=
# Dataflow: STAGING, else a staging directory in BUCKET.
STAGING         ?= $(if $(BUCKET),gs://$(BUCKET)/staging)

# Local paths made absolute: workers do not share the launcher's directory.
runners-path = $(if $(findstring ://,$(1)),$(1),$(abspath $(1)))
# $(call runners-require,VAR,hint) stops make when VAR is empty.
runners-require = $(if $($(1)),,$(error $(1) is required: $(2)))
# $(runners-pipeline) stops make unless PIPELINE is one job's directory.
runners-pipeline = $(if $(and $(filter 1,$(words $(PIPELINE))),$(wildcard pipelines/$(PIPELINE)/main.go)),,$(error PIPELINE=$(PIPELINE) is not a job: want similarity, als or realtime (pipelines/NAME)))
# The streaming job reads Kafka or Pub/Sub (ARGS) instead of INPUT, which it
# then must not get: INPUT= (empty) launches it on a stream.
runners-input = $(if $(INPUT),--input=$(call runners-path,$(INPUT)))

.PHONY: run-flink run-dataflow

## run-flink: the job on Flink through Beam's Flink job server at ENDPOINT.
run-flink:
	$(runners-pipeline)
	$(call runners-require,ENDPOINT,the job endpoint HOST:PORT of Beam's Flink job server (ENDPOINT=localhost:8099))
	$(if $(filter realtime,$(PIPELINE)),,$(call runners-require,INPUT,the interactions path or glob))
	$(call runners-require,OUTPUT,the JSONL output path)
	$(if $(filter EXTERNAL,$(ENV_TYPE)),$(call runners-require,ENV_CONFIG,the Go SDK worker pool HOST:PORT))
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(RUNNERS_GO) build -o $(RUNNERS_WORKER) ./pipelines/$(PIPELINE)
	$(if $(filter linux/amd64,$(RUNNERS_HOST)),,$(RUNNERS_GO) build -o $(RUNNERS_LAUNCHER) ./pipelines/$(PIPELINE))
	$(RUNNERS_LAUNCHER) --runner=flink --endpoint=$(ENDPOINT) \
		--environment_type=$(ENV_TYPE) $(if $(ENV_CONFIG),--environment_config=$(ENV_CONFIG)) \
		$(if $(filter-out LOOPBACK,$(ENV_TYPE)),--worker_binary=$(abspath $(RUNNERS_WORKER))) \
		$(if $(PARALLELISM),--parallelism=$(PARALLELISM)) \
		$(runners-input) --output=$(call runners-path,$(OUTPUT)) $(ARGS)

## run-dataflow: the job on Dataflow, launched from here.
run-dataflow:
	$(runners-pipeline)
	$(call runners-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call runners-require,REGION,the Dataflow region (REGION=europe-west1))
	$(call runners-require,STAGING,set BUCKET=my-bucket or STAGING=gs://my-bucket/staging)
	$(if $(filter gs://% bq://%,$(INPUT)),,$(error INPUT=$(INPUT): Dataflow workers read gs://... or bq://... inputs))
	$(if $(filter gs://%,$(OUTPUT)),,$(error OUTPUT=$(OUTPUT): Dataflow workers write gs://... outputs))
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(RUNNERS_GO) build -o $(RUNNERS_WORKER) ./pipelines/$(PIPELINE)
	$(if $(filter linux/amd64,$(RUNNERS_HOST)),,$(RUNNERS_GO) build -o $(RUNNERS_LAUNCHER) ./pipelines/$(PIPELINE))
	$(RUNNERS_LAUNCHER) --runner=dataflow --project=$(PROJECT) --region=$(REGION) \
		--staging_location=$(STAGING) --worker_binary=$(abspath $(RUNNERS_WORKER)) \
		--input=$(INPUT) --output=$(OUTPUT) $(ARGS)
