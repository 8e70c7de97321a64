#!/usr/bin/env bash
# run.sh: build the server, start it on a model, load it with
# ./serving/loadtest (wrk when installed, else the Go generator) for
# 1-item and 10-item requests, print throughput, p50 and p99, stop it.
#
#   serving/loadtest/run.sh                       # model: out/similarities.jsonl (make run)
#   SIMILARITIES=/tmp/ml100k.jsonl POPULAR=/tmp/ml100k-popular.json serving/loadtest/run.sh
#   serving/loadtest/run.sh --concurrency=1,2,4,8 --threads=1,2   # extra flags go to loadtest
#   MIX=als serving/loadtest/run.sh               # ALS fold-ins on a synthetic ALS run
#
# Environment (all optional):
#   MIX           requests, comma-separated: make (the seed API, default), als
#                 (fold-in POSTs), knn (the same POSTs scored by neighbours),
#                 users (precomputed user lists); see loadtest's --mix
#   SIMILARITIES  the model's JSONL file (default out/similarities.jsonl; with
#                 an als or users MIX, a synthetic ALS run written to
#                 $BIN/als-synth: MovieLens-1M-sized, rank 64, SYNTH_FLAGS
#                 for loadtest's --synth_* flags)
#   POPULAR       its --popular_output file (default: out/popular.json next to
#                 the default model, else none; none for the synthetic run)
#   ADDR          listen address (default 127.0.0.1:18080)
#   GOMAXPROCS    passed to the server as is (default: Go's, the core count)
#   SERVER_FLAGS  extra flags for the server
#   SERVER_CPUS   pin the server to these CPUs (taskset -c list, e.g. 0)
#   CLIENT_CPUS   pin the load generator (wrk or Go) to these CPUs (e.g. 1)
#   GO            the go command (default go)
# Run from the repository root. The server's log goes to $BIN/loadtest-server.log.
set -euo pipefail

cd "$(dirname "$0")/../.."
GO=${GO:-go}
BIN=${BIN:-bin}
ADDR=${ADDR:-127.0.0.1:18080}
MIX=${MIX:-make}
synth=""
if [[ -z "${SIMILARITIES:-}" && ",$MIX," =~ ,(als|users), ]]; then
	synth="$BIN/als-synth"
	SIMILARITIES="$synth/similarities.jsonl"
	POPULAR="" # the run's manifest names its own
fi
SIMILARITIES=${SIMILARITIES:-out/similarities.jsonl}
if [[ -z "${POPULAR+x}" ]]; then
	POPULAR=""
	if [[ "$SIMILARITIES" == out/similarities.jsonl && -f out/popular.json ]]; then
		POPULAR=out/popular.json
	fi
fi
mkdir -p "$BIN"
"$GO" build -o "$BIN/serving" ./serving
"$GO" build -o "$BIN/loadtest" ./serving/loadtest
if [[ -n "$synth" ]]; then
	# shellcheck disable=SC2086
	"$BIN/loadtest" --synth_als="$synth" ${SYNTH_FLAGS:-} >/dev/null
	echo "synthetic ALS run written to $synth (loadtest --synth_als ${SYNTH_FLAGS:-})"
fi
if [[ ! -f "$SIMILARITIES" ]]; then
	echo "run.sh: no model at $SIMILARITIES (make run builds out/similarities.jsonl)" >&2
	exit 1
fi

log="$BIN/loadtest-server.log"
# shellcheck disable=SC2086
${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} "$BIN/serving" --similarities="$SIMILARITIES" ${POPULAR:+--popular="$POPULAR"} \
	--addr="$ADDR" --reload_interval=0 ${SERVER_FLAGS:-} >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

echo "server pid $server on $ADDR (GOMAXPROCS=${GOMAXPROCS:-default}, $(nproc) cores, server CPUs ${SERVER_CPUS:-any}, client CPUs ${CLIENT_CPUS:-any}), model $SIMILARITIES"
${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} "$BIN/loadtest" --url="http://$ADDR" --similarities="$SIMILARITIES" --mix="$MIX" --server_pid="$server" "$@"
