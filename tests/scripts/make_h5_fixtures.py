"""Makes tests/fixtures/h5/*.h5 with real h5py, and the values they hold (expected.json).

Run from the repository root: python3 tests/scripts/make_h5_fixtures.py
(Debian: apt-get install python3-h5py). CI does not run it; its output is checked in.

Then it checks the other direction: written_by_tidhy.h5 (from tests/scripts/write_h5_fixture.fsx,
TiDHy's writer given expected.json's "series.h5" datasets) reads in h5py with the same names,
shapes and values, as float64.
"""
import json
import os

import h5py
import numpy as np

OUT = os.path.join("tests", "fixtures", "h5")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(14)

x64 = rng.standard_normal((6, 3))
x32 = rng.standard_normal((4, 2)).astype(np.float32)
t = np.arange(5, dtype=np.float64)
with h5py.File(os.path.join(OUT, "series.h5"), "w") as f:
    f["x64"] = x64
    f.create_group("group").create_group("sub")["x32"] = x32
    f["t"] = t

single = rng.standard_normal((5, 2)).astype(np.float32)
with h5py.File(os.path.join(OUT, "single.h5"), "w") as f:
    f.create_group("recording")["traces"] = single
    f["recording"]["time"] = np.arange(5, dtype=np.float64)

nan = rng.standard_normal((4, 3))
nan[2, 1] = np.nan
with h5py.File(os.path.join(OUT, "nan.h5"), "w") as f:
    f["data"] = nan

with h5py.File(os.path.join(OUT, "int.h5"), "w") as f:
    f["counts"] = np.arange(6, dtype=np.int64).reshape(3, 2)


def as_json(a):
    return {"shape": list(a.shape), "data": [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]}


expected = {
    "series.h5": {"/x64": as_json(x64), "/group/sub/x32": as_json(x32), "/t": as_json(t)},
    "single.h5": {"/recording/traces": as_json(single)},
    "h5py_version": h5py.__version__,
}
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)

written = os.path.join(OUT, "written_by_tidhy.h5")
if os.path.exists(written):
    with h5py.File(written, "r") as f:
        for name, want in expected["series.h5"].items():
            d = f[name]
            assert d.dtype == np.float64, (name, d.dtype)
            assert list(d.shape) == want["shape"], (name, d.shape)
            assert np.array_equal(d[()].ravel(), np.array(want["data"])), name
    print(f"{written}: h5py reads the {len(expected['series.h5'])} datasets exactly")
else:
    print(f"{written} missing: run tests/scripts/write_h5_fixture.fsx, then this script again")
print("h5py", h5py.__version__)
