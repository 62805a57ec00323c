#!/usr/bin/env bash
# Issue "bring your own network": the compression table of docs/compression.md. Every row
# starts from the shipped deploy/models/mnist-dense, seed 0, distilled from the dense network
# (--teacher self); modes int8 / int4 / ternary / kmeans:16 / kmeans:4 / sigma:16 / sigma:4,
# each without and with one-shot L1 pruning (fc1 80 %, fc2 60 %, fc3 20 %). Resumable (a
# finished row is skipped), every run under a timeout; about a minute a row on an idle core.
#
#   LWFC_DATA=../shared/datasets/mnist bash benchmarks/compression_table.sh [OUT]  (runs/ctable)
#
# Prints the Markdown table (accuracy, nonzero weights, weight storage and its encodings,
# biases + requantization constants) from OUT/*.json and the bundles.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-runs/ctable}
L=${LWFC:-.venv/bin/lwfc}
: "${LWFC_DATA:?set LWFC_DATA to the MNIST folder}"
mkdir -p "$OUT"
PRUNE=(--prune l1 --prune-layers fc1:0.8,fc2:0.6,fc3:0.2 --step-epochs 2)
for mode in int8 int4 ternary kmeans:16 kmeans:4 sigma:16 sigma:4; do
  for pruned in 0 1; do
    name=${mode/:/}$([ "$pruned" = 1 ] && echo -pruned)
    [ -s "$OUT/$name.json" ] && continue
    extra=()
    [ "$pruned" = 1 ] && extra=("${PRUNE[@]}")
    s=$(date +%s)
    OMP_NUM_THREADS=1 timeout 3600 $L compress deploy/models/mnist-dense --out "$OUT/$name" \
      --weights "$mode" --layer-epochs 1 --finetune 3 --lr 1e-3 --teacher self --seed 0 \
      "${extra[@]}" --json > "$OUT/$name.json.tmp" 2> "$OUT/$name.err" \
      && mv "$OUT/$name.json.tmp" "$OUT/$name.json"
    echo "$name rc=$? $(( $(date +%s) - s )) s" >> "$OUT/log"
  done
done
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
from lwfc.bundle import load_bundle
from lwfc.compress.storage import weight_storage
out = Path(sys.argv[1])
print("| weights | pruning | int8 accuracy | nonzero weights | weight storage (bytes) "
      "| encodings used | biases + requant. (bytes) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for mode in ["int8", "int4", "ternary", "kmeans:16", "kmeans:4", "sigma:16", "sigma:4"]:
    for pruned in (False, True):
        name = mode.replace(":", "") + ("-pruned" if pruned else "")
        f = out / f"{name}.json"
        if not f.exists():
            continue
        r = json.loads(f.read_text())
        s = weight_storage(load_bundle(out / name))
        enc = ",".join(sorted({lay["encoding"] for lay in s["layers"]}))
        prune = "L1 fc1 0.8, fc2 0.6, fc3 0.2" if pruned else "none"
        print(f"| `{mode}` | {prune} | {r['int8_accuracy']:.4f} | {r['weights_nonzero']:,} "
              f"| **{s['weight_bytes']:,}** | {enc} | {s['other_bytes']:,} |")
PY
