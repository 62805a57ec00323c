"""A plain PyTorch MLP trainer (no lwfc code): what a user brings to ``lwfc import``.

Trains ``Flatten - Linear - BatchNorm1d - ReLU - Dropout - Linear - ReLU - Linear (- Softmax)``
on an ``.npz`` (x_train, y_train, x_test, y_test; uint8 images) for a few epochs, then saves
the model as TorchScript (``model.ts``), a torch.export program (``model.pt2``), a state dict
(``state.pt``), a full pickle (``pickle.pt``) and ONNX (``model.onnx``, dynamo exporter;
``legacy.onnx``, the TorchScript exporter, which keeps BatchNormalization), and prints the float
test accuracy as JSON. ``--normalize`` trains on ``(x/255 - mean) / std`` with the
normalisation outside the model, as torchvision's ``Normalize`` would do it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("npz", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--hidden", default="32,16")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--normalize", action="store_true")
    ap.add_argument("--softmax", action="store_true", help="end the saved model with Softmax")
    args = ap.parse_args()
    torch.manual_seed(0)
    d = np.load(args.npz)
    xi = torch.tensor(d["x_train"], dtype=torch.float32) / 255
    xt = torch.tensor(d["x_test"], dtype=torch.float32) / 255
    yi = torch.tensor(d["y_train"], dtype=torch.int64)
    yt = torch.tensor(d["y_test"], dtype=torch.int64)
    mean, std = (float(xi.mean()), float(xi.std())) if args.normalize else (0.0, 1.0)
    xi, xt = (xi - mean) / std, (xt - mean) / std
    features, classes = xi[0].numel(), int(yi.max()) + 1
    h1, h2 = (int(v) for v in args.hidden.split(","))
    body = nn.Sequential(
        nn.Flatten(),
        nn.Linear(features, h1),
        nn.BatchNorm1d(h1),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(h1, h2),
        nn.ReLU(),
        nn.Linear(h2, classes),
    )
    opt = torch.optim.Adam(body.parameters(), lr=3e-3)
    for _ in range(args.epochs):
        body.train()
        perm = torch.randperm(len(xi))
        for i in range(0, len(xi), 64):
            idx = perm[i : i + 64]
            loss = nn.functional.cross_entropy(body(xi[idx]), yi[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    body.eval()
    model = nn.Sequential(*body, nn.Softmax(dim=1)) if args.softmax else body
    model.eval()
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    args.out.mkdir(parents=True, exist_ok=True)
    example = xt[:4]
    torch.jit.script(model).save(str(args.out / "model.ts"))
    torch.export.save(torch.export.export(model, (example,)), str(args.out / "model.pt2"))
    torch.save(model.state_dict(), args.out / "state.pt")
    torch.save(model, args.out / "pickle.pt")
    dyn = ({0: torch.export.Dim("batch", min=1)},)
    torch.onnx.export(
        model,
        (example,),
        str(args.out / "model.onnx"),
        input_names=["x"],
        dynamic_shapes=dyn,
        dynamo=True,
        external_data=False,
    )
    torch.onnx.export(
        model,
        (example,),
        str(args.out / "legacy.onnx"),
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
        dynamo=False,
    )
    arch = "-".join(str(v) for v in (features, h1, h2, classes))
    print(json.dumps({"float_accuracy": acc, "mean": mean, "std": std, "arch": arch}))


if __name__ == "__main__":
    main()
