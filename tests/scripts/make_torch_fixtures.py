"""Makes tests/fixtures/torch/*.pth with real PyTorch, and the values they hold (expected.json).

Run from the repository root: python3 tests/scripts/make_torch_fixtures.py
(Debian: apt-get install python3-torch). CI does not run it; its output is checked in.

Then it checks the other direction: the files that TiDHy's writer made
(written_by_tidhy_f64.pth / _f32.pth, from tests/scripts/write_torch_fixture.fsx) load with
torch.load(weights_only=True) and hold exactly the values of expected.json's "float64" state_dict.
"""
import json
import os
from collections import OrderedDict

import torch
from torch import nn

OUT = os.path.join("tests", "fixtures", "torch")
os.makedirs(OUT, exist_ok=True)


def mlp(i, h, o):
    # The shapes of upstream's MLPs as the port names them: 0 Linear, 1 LayerNorm, 3 Linear, 4 Linear.
    return nn.Sequential(nn.Linear(i, h), nn.LayerNorm(h), nn.ReLU(), nn.Linear(h, h), nn.Linear(h, o))


class Tiny(nn.Module):
    """TiDHy's parameters for config.json: r_dim 2, r2_dim 2, mix_dim 2, input_dim 3, hyper_hid_dim 3."""

    def __init__(self):
        super().__init__()
        self.temporal = nn.Parameter(torch.zeros(2, 4))
        self.spatial_decoder = nn.Sequential(nn.Linear(2, 3))
        self.hypernet = mlp(2, 3, 2)


config = {"r_dim": 2, "r2_dim": 2, "mix_dim": 2, "input_dim": 3, "hyper_hid_dim": 3,
          "max_iter": 20, "tol": 0.01, "sequence_length": 10, "overlap": 5}

g = torch.Generator().manual_seed(14)
model = Tiny().double()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
sd64 = model.state_dict()
sd32 = model.float().state_dict()


def as_json(sd):
    return {k: {"shape": list(v.shape), "data": [float(x) for x in v.flatten().tolist()]} for k, v in sd.items()}


torch.save(sd64, os.path.join(OUT, "state_dict_f64.pth"))
torch.save(sd32, os.path.join(OUT, "state_dict_f32.pth"))

# A training checkpoint as upstream's training loops save one.
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
model.double()
loss = sum((p ** 2).sum() for p in model.parameters())
loss.backward()
torch.save({"epoch": 3, "state_dict": sd64, "optimizer": opt.state_dict(), "loss": 1.5},
           os.path.join(OUT, "checkpoint.pth"))

# Views of one storage: a transpose (strides (1, 3)), a row (offset 3) and a column (stride 3).
base = torch.arange(12, dtype=torch.float64).reshape(4, 3) / 8
strided = OrderedDict([("base", base), ("t", base.t()), ("row", base[1]), ("col", base[:, 2])])
torch.save(strided, os.path.join(OUT, "strided.pth"))

# Refused: an int64 tensor, and a pickle holding an object of another class.
torch.save(OrderedDict([("steps", torch.arange(3))]), os.path.join(OUT, "int64.pth"))
torch.save({"state_dict": sd64, "when": __import__("datetime").date(2024, 1, 2), "bad": torch.nn.Identity()},
           os.path.join(OUT, "object.pth"))
torch.save(OrderedDict([("m", torch.nn.Identity())]), os.path.join(OUT, "module.pth"))

expected = {
    "config": config,
    "float64": as_json(sd64),
    "float32": as_json(sd32),
    "strided": as_json(strided),
    "torch_version": torch.__version__,
}
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
with open(os.path.join(OUT, "config.json"), "w") as f:
    json.dump(config, f, indent=1)

# The other direction: TiDHy's files, read by torch.
for name, dtype in [("written_by_tidhy_f64.pth", torch.float64), ("written_by_tidhy_f32.pth", torch.float32)]:
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        print(f"{path} missing: run tests/scripts/write_torch_fixture.fsx, then this script again")
        continue
    sd = torch.load(path, weights_only=True)
    want = sd64 if dtype == torch.float64 else sd32
    assert list(sd.keys()) == list(want.keys()), (list(sd.keys()), list(want.keys()))
    for k, v in sd.items():
        assert v.dtype == dtype, (k, v.dtype)
        assert v.shape == want[k].shape, (k, v.shape)
        assert torch.equal(v, want[k]), k
    print(f"{path}: torch.load(weights_only=True) gives the {len(sd)} tensors exactly")
print("torch", torch.__version__)
