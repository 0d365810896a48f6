#!/usr/bin/env python3
"""Expected values for tests/TiDHy.Functional.Tests/Analysis/EffectiveTimescalesTests.fs.

Writes tests/TiDHy.Functional.Tests/timescales-expected.json: fixed inputs (drawn here from
numpy's default_rng with fixed seeds) and what the functions below compute from them. CI does
not run this script; rerun it (Debian: python3-numpy python3-scipy) and review the diff when a
case is added. Made with SciPy 1.10.1 and NumPy 1.24.2 (recorded in the JSON).

This script is the reference. Its functions restate, in NumPy/SciPy float64, the definitions of
upstream's TiDHy/utils/analysis.py (elliottabe/TiDHy, which runs them in JAX):

- spectrum_timescales = compute_timescale_spectrum's finite stable timescales: every eigenvalue
  of the matrix (a complex-conjugate pair counts twice), |lambda| clipped to [1e-10, 0.9999],
  tau = -dt / log|lambda|, modes with |lambda| >= 1 left out.
- pooled over V_t = analyze_effective_timescales. Upstream pools every V_t, the zero matrices
  of the first step of each window included (each adds R timescales of -dt/log(1e-10));
  TiDHy.Functional skips them, and so does effective_timescales here. The upstream variant is
  recorded beside it ("upstream_pooled") so the difference is visible.
- cluster_timescales = upstream's log-space branch with n_clusters=None: log10(tau + 1e-10),
  Freedman-Diaconis bin count (np.percentile linear), capped at n // 2, np.histogram, centres of
  the non-empty bins; the degenerate cases return the median (counts: every value).
- compare_to_truth = compare_discovered_to_ground_truth: cost |d - t| / (t + 1e-10),
  scipy.optimize.linear_sum_assignment, pairs within the tolerance count.
- per_state_fit: the paper's per-state read-out (not in analysis.py; as SCIENCE-NOTES describes
  it): per label, np.linalg.lstsq for x[t+1] ~ U x[t] over steps t, t+1 both in the label, the
  timescales of U pooled (spectrum_timescales), the nearest pooled timescale to each true one.
  Labels with fewer transitions than features are skipped.
"""
import json
import os

import numpy as np
import scipy
import scipy.linalg
import scipy.optimize

OUT = os.path.join(os.path.dirname(__file__), "..", "TiDHy.Functional.Tests", "timescales-expected.json")


def spectrum_timescales(a, dt):
    mag = np.abs(scipy.linalg.eigvals(a))
    tau = -dt / np.log(np.clip(mag, 1e-10, 0.9999))
    return np.sort(tau[mag < 1.0])


def effective_timescales(ut, dt, skip_zero=True):
    pooled = []
    for w in range(ut.shape[0]):
        for t in range(ut.shape[1]):
            v = ut[w, t]
            if skip_zero and not v.any():
                continue
            pooled.extend(spectrum_timescales(v, dt))
    return np.sort(np.array(pooled))


def cluster_timescales(ts):
    ts = np.asarray(ts, dtype=float)
    if len(ts) == 0:
        return [], [], "empty"
    logt = np.log10(ts + 1e-10)
    q75 = np.percentile(logt, 75)
    q25 = np.percentile(logt, 25)
    iqr = q75 - q25
    median = [float(np.median(ts))], [len(ts)]
    if iqr < 1e-10:
        return *median, "degenerate: iqr"
    width = 2 * iqr / (len(logt) ** (1 / 3))
    if width < 1e-10:
        return *median, "degenerate: width"
    rng = np.max(logt) - np.min(logt)
    if rng < 1e-10:
        return *median, "degenerate: range"
    n = max(int(rng / width), 1)
    n = max(min(n, len(ts) // 2), 1)
    hist, edges = np.histogram(logt, bins=n)
    centres = (edges[:-1] + edges[1:]) / 2
    keep = hist > 0
    return [float(v) for v in 10 ** centres[keep]], [int(c) for c in hist[keep]], f"{n} bins"


def compare_to_truth(discovered, truth, tol):
    d = np.asarray(discovered, dtype=float)
    t = np.asarray(truth, dtype=float)
    out = {"discovered": d.tolist(), "truth": t.tolist(), "tolerance": tol}
    if len(d) == 0:
        out.update(pairs=[], recovery=0.0, precision=0.0, recall=0.0, mean_relative_error=None,
                   false_positives=[], false_negatives=t.tolist(), matched=0)
        return out
    cost = np.abs(d[:, None] - t[None, :]) / (t[None, :] + 1e-10)
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    pairs = [(float(d[i]), float(t[j]), float(cost[i, j])) for i, j in zip(rows, cols) if cost[i, j] <= tol]
    md = {i for i, j in zip(rows, cols) if cost[i, j] <= tol}
    mt = {j for i, j in zip(rows, cols) if cost[i, j] <= tol}
    fp = [float(d[i]) for i in range(len(d)) if i not in md]
    fn = [float(t[j]) for j in range(len(t)) if j not in mt]
    tp = len(pairs)
    out.update(
        pairs=[list(p) for p in pairs],
        recovery=tp / len(t),
        precision=tp / (tp + len(fp)) if tp + len(fp) > 0 else 0.0,
        recall=tp / len(t),
        mean_relative_error=float(np.mean([p[2] for p in pairs])) if pairs else None,
        false_positives=fp,
        false_negatives=fn,
        matched=tp,
    )
    return out


def per_state_fit(x, labels, truth, tol, dt=1.0):
    fits, skipped, pooled = [], [], []
    d = x.shape[1]
    for lab in sorted(set(labels.tolist())):
        idx = [t for t in range(len(labels) - 1) if labels[t] == lab and labels[t + 1] == lab]
        if len(idx) < d:
            skipped.append(int(lab))
            continue
        x0, x1 = x[idx], x[[t + 1 for t in idx]]
        ut, *_ = np.linalg.lstsq(x0, x1, rcond=None)
        tau = spectrum_timescales(ut.T, dt)
        fits.append({"label": int(lab), "transitions": len(idx), "timescales": tau.tolist()})
        pooled.extend(tau)
    pooled = np.sort(np.array(pooled))
    nearest = [float(pooled[np.argmin(np.abs(pooled - t))]) if len(pooled) else None for t in truth]
    within = sum(1 for n, t in zip(nearest, truth) if n is not None and abs(n - t) / t <= tol)
    return {
        "features": x.tolist(), "labels": [int(v) for v in labels], "truth": list(truth), "tolerance": tol,
        "dt": dt, "fits": fits, "skipped": skipped, "pooled": pooled.tolist(), "nearest": nearest,
        "within": within,
    }


def scaled(rng, n, radius):
    a = rng.normal(size=(n, n))
    return a * radius / np.max(np.abs(np.linalg.eigvals(a)))


def spectrum_cases():
    rng = np.random.default_rng(21)
    s = rng.normal(size=(2, 2))
    rot = np.array([[np.exp(-0.1), -2 * np.pi * 0.05], [2 * np.pi * 0.05, np.exp(-0.1)]])
    cases = [
        ("stable 6x6, radius 0.95", scaled(rng, 6, 0.95), 1.0),
        ("stable 4x4, radius 0.7, dt 0.01", scaled(rng, 4, 0.7), 0.01),
        ("unstable 5x5, radius 1.3", scaled(rng, 5, 1.3), 1.0),
        ("complex pair in a random basis", s @ rot @ np.linalg.inv(s), 1.0),
        ("zero 3x3", np.zeros((3, 3)), 1.0),
        ("clipped: diag 0.99995, 0.5, 1.0, -1e-12", np.diag([0.99995, 0.5, 1.0, -1e-12]), 1.0),
    ]
    return [{"name": n, "dt": dt, "matrix": m.tolist(), "timescales": spectrum_timescales(m, dt).tolist()}
            for n, m, dt in cases]


def effective_cases():
    rng = np.random.default_rng(22)
    out = []
    for name, windows, steps, r in [("2 windows x 4 steps, R 3", 2, 4, 3), ("3 windows x 5 steps, R 4", 3, 5, 4)]:
        ut = np.stack([np.stack([scaled(rng, r, rng.uniform(0.5, 1.2)) for _ in range(steps)]) for _ in range(windows)])
        ut[:, 0] = 0.0  # the first step of each window has no prediction: V_t = 0
        pooled = effective_timescales(ut, 1.0)
        centres, counts, branch = cluster_timescales(pooled)
        out.append({
            "name": name, "dt": 1.0, "shape": list(ut.shape), "ut": ut.ravel().tolist(),
            "pooled": pooled.tolist(), "upstream_pooled": effective_timescales(ut, 1.0, skip_zero=False).tolist(),
            "centres": centres, "counts": counts, "branch": branch,
        })
    return out


def cluster_cases():
    rng = np.random.default_rng(23)
    cases = [
        ("log-normal, 200 values", np.exp(rng.normal(2.0, 1.2, size=200))),
        ("three groups, 60 values", np.concatenate([rng.uniform(2.2, 2.6, 20), rng.uniform(9, 11, 20),
                                                    rng.uniform(70, 90, 20)])),
        ("7 values", np.exp(rng.normal(1.0, 1.0, size=7))),
        ("3 values", np.array([1.5, 4.0, 40.0])),
        ("2 values", np.array([3.0, 30.0])),
        ("1 value", np.array([5.0])),
        ("identical values", np.full(9, 12.5)),
        ("4 values, one bin", np.array([1.0, 10.0, 100.0, 1000.0])),
        ("5 values, the cap n // 2 binds", np.array([1.0, 2.0, 2.1, 2.2, 1e8])),
        ("one outlier among identical", np.concatenate([np.full(7, 4.0), [90.0]])),
        ("empty", np.array([])),
    ]
    # Bin counts that a 5% change of the Freedman-Diaconis width would change.
    rng = np.random.default_rng(26)
    cases += [
        ("4 log-normal groups, 1000 values",
         np.exp(np.concatenate([rng.normal(m, 0.15, 250) for m in [0.9, 1.7, 2.5, 3.7]]))),
        ("log-uniform, 37 values", 10 ** rng.uniform(-0.5, 2.5, 37)),
        ("log-normal, 500 values, with a fast tail",
         np.concatenate([np.exp(rng.normal(1.5, 0.5, 480)), rng.uniform(0.04, 0.1, 20)])),
    ]
    out = []
    for name, v in cases:
        centres, counts, branch = cluster_timescales(v)
        out.append({"name": name, "timescales": v.tolist(), "centres": centres, "counts": counts, "branch": branch})
    return out


def compare_cases():
    rng = np.random.default_rng(24)
    truth = [41.96, 5.73, 11.74, 3.79, 77.10, 2.47]
    cases = [
        ("fewer discovered than true", rng.uniform(2, 90, size=4), truth, 0.2),
        ("more discovered than true", np.concatenate([np.array(truth) * rng.uniform(0.85, 1.15, 6),
                                                      rng.uniform(1, 100, 5)]), truth, 0.2),
        ("as many, half within", np.array(truth) * np.array([1.1, 1.5, 0.95, 0.5, 1.19, 3.0]), truth, 0.2),
        ("tolerance 0.05", rng.uniform(2, 90, size=8), truth, 0.05),
        ("none discovered", np.array([]), truth, 0.2),
        ("one of each", np.array([10.0]), [11.0], 0.2),
    ]
    out = []
    for name, d, t, tol in cases:
        c = compare_to_truth(d, t, tol)
        c["name"] = name
        out.append(c)
    return out


def switching(rng, mats, dwell, n):
    d = mats[0].shape[0]
    x = np.zeros((n, d))
    labels = np.zeros(n, dtype=int)
    x[0] = rng.normal(size=d)
    s = 0
    for t in range(1, n):
        if t % dwell == 0:
            s = (s + 1) % len(mats)
        labels[t] = s
        x[t] = mats[s] @ x[t - 1] + 0.3 * rng.normal(size=d)
    return x, labels


def per_state_cases():
    rng = np.random.default_rng(25)
    m0 = np.array([[0.9, -0.2], [0.2, 0.9]])
    m1 = np.diag([0.6, 0.97])
    x, labels = switching(rng, [m0, m1], 40, 400)
    truth = [float(-1 / np.log(np.abs(np.linalg.eigvals(m0))[0])), float(-1 / np.log(0.6)), float(-1 / np.log(0.97))]
    c1 = per_state_fit(x, labels, truth, 0.2)
    c1["name"] = "2-D, two states"
    # Three features, a third label with two transitions (fewer than 3 features: skipped).
    m2 = scaled(rng, 3, 0.8)
    m3 = scaled(rng, 3, 0.95)
    x, labels = switching(rng, [m2, m3], 30, 240)
    labels[100:103] = 7
    c2 = per_state_fit(x, labels, [2.0, 5.0, 20.0], 0.2)
    c2["name"] = "3-D, a label with too few transitions"
    # One feature.
    x, labels = switching(rng, [np.array([[0.8]]), np.array([[0.3]])], 25, 150)
    c3 = per_state_fit(x, labels, [float(-1 / np.log(0.8)), float(-1 / np.log(0.3))], 0.2)
    c3["name"] = "1-D"
    return [c1, c2, c3]


def main():
    data = {
        "generated_by": "tests/scripts/make_timescales_expected.py",
        "versions": {"scipy": scipy.__version__, "numpy": np.__version__},
        "spectrum": spectrum_cases(),
        "effective": effective_cases(),
        "clusters": cluster_cases(),
        "compare": compare_cases(),
        "per_state": per_state_cases(),
    }
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    for c in data["clusters"] + data["effective"]:
        print(f"clusters {c['name']}: {c['branch']}, {len(c['centres'])} centres")
    for c in data["compare"]:
        print(f"compare {c['name']}: matched {c['matched']}, precision {c['precision']:.3f}")
    for c in data["per_state"]:
        print(f"per state {c['name']}: skipped {c['skipped']}, nearest {c['nearest']}, within {c['within']}")


if __name__ == "__main__":
    main()
