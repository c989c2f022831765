#!/usr/bin/env bash
# Socket ingest benchmark: 2,000,000 ticks over 1 and 8 connections into `tickflow run
# --source listen:// -w 2` (output discarded), beside a bare reader (socat | wc -l) draining
# the same traffic.   scripts/socket_bench.sh [path/to/tickflow]
set -euo pipefail
T=${1:-target/release/tickflow}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$T produce --to stdout --events 2000000 --rate 0 --symbols 100 --start 2025-11-20T09:30:00Z > "$dir/all.jsonl" 2>/dev/null
split -n l/8 -d "$dir/all.jsonl" "$dir/part."
lines=$(wc -l < "$dir/all.jsonl")
now() { date +%s.%N; }
for conns in 1 8; do
  if [ "$conns" = 1 ]; then files=("$dir/all.jsonl"); else files=("$dir"/part.*); fi
  port=$((20000 + RANDOM % 20000))
  $T run --source "listen://127.0.0.1:$port" -w 2 --exit-at-end --sink discard --progress 2> "$dir/run.log" &
  run=$!
  senders=()
  for f in "${files[@]}"; do socat -u "FILE:$f" "TCP:127.0.0.1:$port,retry=200,interval=0.02" & senders+=($!); done
  wait "${senders[@]}"; wait "$run"
  echo "tickflow listen -w 2, $conns connection(s): $(grep -o '[0-9]* events in [0-9.]*s ([0-9]*/s)' "$dir/run.log")"
  port=$((20000 + RANDOM % 20000))
  socat -u "TCP-LISTEN:$port,reuseaddr,fork" STDOUT > "$dir/drained" &
  reader=$!
  sleep 0.2
  start=$(now); senders=()
  for f in "${files[@]}"; do socat -u "FILE:$f" "TCP:127.0.0.1:$port" & senders+=($!); done
  wait "${senders[@]}"; end=$(now)
  kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true
  python3 -c "print(f'bare reader (socat, counting {$(wc -l < "$dir/drained")} lines), $conns connection(s): {$lines / ($end - $start):,.0f} events/s')"
done
