#!/usr/bin/env bash
# Issue "bring your own network": train architectures x datasets with the default recipe, then
# run each bundle's whole test set through Verilator (0 mismatches expected), make ternary
# and ternary / int4 (<= 10 KB of weights) bundles from the default networks' float
# checkpoints, distilled from their CNN teachers, and import a plain PyTorch MLP. About an hour
# on 2 cores (one thread per step); resumable (a finished step is skipped).
#
#   LWFC_DATA=../shared/datasets/mnist bash benchmarks/byon.sh [OUT]    (default OUT: runs/byon)
#
# Per step OUT/NAME/ (bundle), OUT/NAME.*.json (the command's --json) and a line in OUT/log.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-runs/byon}
L=${LWFC:-.venv/bin/lwfc}
M=${LWFC_DATA:?set LWFC_DATA to the MNIST folder}
F=${FASHION_DATA:-/usr/share/datasets/fashion-mnist}
mkdir -p "$OUT"
step() {  # name limit-seconds command...
  local name=$1 limit=$2; shift 2
  [ -s "$OUT/$name.json" ] && return 0
  local s; s=$(date +%s)
  timeout "$limit" "$@" --json > "$OUT/$name.json.tmp" 2> "$OUT/$name.err" \
    && mv "$OUT/$name.json.tmp" "$OUT/$name.json"
  echo "$name rc=$? $(( $(date +%s) - s )) s" >> "$OUT/log"
}
train() {  # name dataset data arch
  step "$1.train" 14400 $L train --recipe default --dataset "$2" --data "$3" --arch "$4" \
    --seed 0 --out "$OUT/$1" --checkpoint "$OUT/$1.pt"
}
sim() {  # name dataset data images
  step "$1.sim" 7200 $L sim "$OUT/$1" --dataset "$2" --data "$3" --images "$4" \
    --simulator verilator
}
ternary() {  # name checkpoint dataset data
  step "$1.compress" 7200 $L compress "$2" --out "$OUT/$1" --weights ternary --teacher "$2" \
    --layer-epochs 1 --finetune 3 --lr 1e-3 --seed 0 --dataset "$3" --data "$4"
}
tenkb() {  # name checkpoint dataset data: the deploy/models/mnist-10kb recipe
  step "$1.compress" 7200 $L compress "$2" --out "$OUT/$1" --teacher "$2" \
    --weights fc1=ternary,fc2=int4,fc3=ternary --layer-epochs 2 --finetune 20 --lr 1e-3 \
    --seed 0 --dataset "$3" --data "$4"
}
imports() {  # a float MLP from a plain PyTorch script (tests/scripts/torch_mlp.py), two formats
  local t="$OUT/torch-mlp"
  if [ ! -s "$t/float.json" ]; then
    mkdir -p "$t"
    timeout 600 .venv/bin/python -c "import sys, numpy as np; from lwfc.data import load_data
d = load_data('mnist', sys.argv[1]); np.savez(sys.argv[2], x_train=d.x_train, y_train=d.y_train,
x_test=d.x_test, y_test=d.y_test)" "$M" "$t/mnist.npz" &&
    OMP_NUM_THREADS=1 timeout 3600 .venv/bin/python tests/scripts/torch_mlp.py "$t/mnist.npz" \
      --out "$t" --hidden 128,64 --epochs 10 --softmax > "$t/out" 2> "$t/err" &&
    tail -n 1 "$t/out" > "$t/float.json"  # the summary (the ONNX exporter prints above it)
    echo "torch-mlp rc=$? $(cat "$t/float.json" 2>/dev/null)" >> "$OUT/log"
  fi
  for f in model.pt2 model.onnx; do
    step "import-${f#model.}" 1800 $L import "$t/$f" --dataset mnist --data "$M" \
      --out "$OUT/import-${f#model.}"
    sim "import-${f#model.}" mnist "$M" 10000
  done
}
# The default network and its ternary bundle first (the issue's headline figures), then the rest.
train mnist-784-50-100-10 mnist "$M" 784-50-100-10
sim mnist-784-50-100-10 mnist "$M" 10000
ternary mnist-ternary "$OUT/mnist-784-50-100-10.pt" mnist "$M"
sim mnist-ternary mnist "$M" 10000
train fashion-784-50-100-10 fashion-mnist "$F" 784-50-100-10
sim fashion-784-50-100-10 fashion-mnist "$F" 10000
ternary fashion-ternary "$OUT/fashion-784-50-100-10.pt" fashion-mnist "$F"
sim fashion-ternary fashion-mnist "$F" 10000
tenkb mnist-10kb "$OUT/mnist-784-50-100-10.pt" mnist "$M"
sim mnist-10kb mnist "$M" 10000
tenkb fashion-10kb "$OUT/fashion-784-50-100-10.pt" fashion-mnist "$F"
sim fashion-10kb fashion-mnist "$F" 10000
imports
train digits-64-32-16-10 digits "$M" 64-32-16-10
sim digits-64-32-16-10 digits "$M" 360
for arch in 784-32-10 784-256-128-64-10; do
  train "mnist-$arch" mnist "$M" "$arch"
  sim "mnist-$arch" mnist "$M" 10000
  train "fashion-$arch" fashion-mnist "$F" "$arch"
  sim "fashion-$arch" fashion-mnist "$F" 10000
done
echo "all done" >> "$OUT/log"
