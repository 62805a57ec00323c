"""RTL check of the cycle model on the extreme images: the worst MNIST test image (the one with
the longest interval, by the model) and the all-255 image, each streamed 16 times and alone,
for one configuration. Usage: python benchmarks/extremes.py BUNDLE LANES FLOW DRAIN [SIM]."""

from __future__ import annotations

import json
import sys

import numpy as np

from lwfc import golden
from lwfc.bundle import load_bundle
from lwfc.data import load_dataset
from lwfc_hw import sim
from lwfc_hw.cycles import activity, image_report, schedule, stream_report
from lwfc_hw.plan import plan_for_bundle


def per_layer(text: str):
    v = text.split(",")
    return v[0] if len(v) == 1 else v


def main() -> None:
    path, lanes, flow, drain = sys.argv[1:5]
    simulator = sys.argv[5] if len(sys.argv) > 5 else "verilator"
    bundle = load_bundle(path)
    x, _ = load_dataset(bundle.dataset, "test", None, progress=False)
    x = golden.as_pixels(x, bundle.in_features)
    plan = plan_for_bundle(bundle, [int(v) for v in lanes.split(",")], 4,
                           dataflow=per_layer(flow), drain=[int(v) for v in drain.split(",")])
    worst = stream_report(plan, activity(bundle, x)).worst_image
    out = {}
    for name, img in (("worst", x[worst]), ("all255", np.full(bundle.in_features, 255,
                                                               dtype=np.uint8))):
        imgs = np.tile(img, (16, 1))
        act = activity(bundle, imgs)
        res = sim.simulate(bundle, plan, imgs, simulator)
        ref = golden.forward(bundle, imgs)
        s = schedule(plan, 16, act)
        exact = (tuple(int(t) for t in res.t_in - res.t_in[0]) == s.t_in
                 and tuple(int(t) for t in res.t_out - res.t_in[0]) == s.t_out)
        interval, latency = image_report(plan, act[0])
        out[name] = {"image": int(worst) if name == "worst" else None,
                     "mismatches": int((res.logits != ref).any(axis=1).sum()),
                     "cycles_exact": exact,
                     "rtl_interval": int(res.t_out[-1] - res.t_out[-2]),
                     "rtl_latency_first": int(res.t_out[0] - res.t_in[0]),
                     "model_interval": interval, "model_latency": latency}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
