#!/usr/bin/env python3
"""Expected values for tests/TiDHy.Functional.Tests/Analysis/*Tests.fs, from scikit-learn and SciPy.

Writes tests/TiDHy.Functional.Tests/analysis-expected.json: fixed inputs (drawn here from
numpy's default_rng with fixed seeds) and what scikit-learn / SciPy compute from them. CI does
not run this script; rerun it (Debian: python3-sklearn python3-scipy python3-numpy) and review
the diff when a case is added. Made with scikit-learn 1.2.1, SciPy 1.10.1, NumPy 1.24.2.

k-nearest neighbours: KNeighborsClassifier(n_neighbors=k) with its defaults (uniform weights,
Euclidean), algorithm="brute" on one thread. Among equidistant candidates for the k-th place,
scikit-learn keeps what its max-heap keeps (training points visited in index order, a point
equal to the heap's largest distance is not admitted); among tied votes, the smallest label.
The integer-grid cases have many such ties; the script also records whether algorithm="auto"
agrees (it does for these inputs).
"""
import json
import os

os.environ["OMP_NUM_THREADS"] = "1"  # scikit-learn's neighbour search: one thread, index order

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.stats  # noqa: E402
import sklearn  # noqa: E402
from sklearn import metrics  # noqa: E402
from sklearn.metrics.cluster import contingency_matrix  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "TiDHy.Functional.Tests", "analysis-expected.json")


def knn_case(name, train_x, train_y, test_x, test_y, k=3):
    brute = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train_x, train_y)
    auto = KNeighborsClassifier(n_neighbors=k).fit(train_x, train_y)
    pred = brute.predict(test_x)
    return {
        "name": name,
        "k": k,
        "train_x": train_x.tolist(),
        "train_y": [int(v) for v in train_y],
        "test_x": test_x.tolist(),
        "test_y": [int(v) for v in test_y],
        "predictions": [int(v) for v in pred],
        "accuracy": float(brute.score(test_x, test_y)),
        "auto_agrees": bool((auto.predict(test_x) == pred).all()),
    }


def knn_cases():
    rng = np.random.default_rng(11)
    cases = []
    # Continuous features: no ties among distances.
    x = rng.normal(size=(110, 4))
    y = (x[:, 0] > 0).astype(int) * 2 + (x[:, 1] + 0.5 * rng.normal(size=110) > 0).astype(int)
    cases.append(knn_case("gaussian 4-D, 4 classes", x[:80], y[:80], x[80:], y[80:]))
    # 20 features (upstream's raw input has 20 channels), 8 classes, k = 5.
    x = rng.normal(size=(150, 20))
    y = rng.integers(0, 8, size=150)
    x[:, :3] += y[:, None] * 0.4
    cases.append(knn_case("gaussian 20-D, 8 classes, k=5", x[:100], y[:100], x[100:], y[100:], k=5))
    # Integer grid: many equidistant neighbours at the k-th place and tied votes.
    for i, dim in enumerate([2, 3]):
        x = rng.integers(0, 4, size=(100, dim)).astype(float)
        y = rng.integers(0, 4, size=100)
        cases.append(knn_case(f"integer grid {dim}-D (ties), 4 classes", x[:60], y[:60], x[60:], y[60:]))
    # Labels that are not 0..C-1, and k equal to the training size.
    x = rng.normal(size=(12, 2))
    y = np.array([7, 3, 3, 7, 9, 9, 3, 7, 9, 3, 7, 9])
    cases.append(knn_case("labels 3/7/9, k = training size", x[:8], y[:8], x[8:], y[8:], k=8))
    # Three neighbours, three different labels: the smallest label wins.
    train_x = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [10.0, 10.0]])
    train_y = np.array([5, 2, 4, 0])
    test_x = np.array([[0.0, 0.0], [0.1, 0.0], [9.0, 9.0]])
    cases.append(knn_case("three-way vote tie", train_x, train_y, test_x, np.array([2, 5, 0])))
    return cases


def assignment_case(name, cost):
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return {
        "name": name,
        "cost": cost.tolist(),
        "rows": [int(v) for v in rows],
        "columns": [int(v) for v in cols],
        "total": float(cost[rows, cols].sum()),
    }


def assignment_cases():
    rng = np.random.default_rng(12)
    return [
        assignment_case("random 6x6", rng.uniform(size=(6, 6))),
        assignment_case("random 4x7", rng.normal(size=(4, 7))),
        assignment_case("random 7x4", rng.normal(size=(7, 4))),
        assignment_case("random 12x12", rng.uniform(0, 100, size=(12, 12))),
        assignment_case("1x1", np.array([[3.5]])),
        # Integer costs with many optimal assignments: only the total is unique.
        assignment_case("integer ties 5x5", rng.integers(0, 3, size=(5, 5)).astype(float)),
    ]


def cluster_case(name, truth, pred):
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    c = contingency_matrix(truth, pred)
    rows, cols = scipy.optimize.linear_sum_assignment(-c)
    h, comp, v = metrics.homogeneity_completeness_v_measure(truth, pred)
    return {
        "name": name,
        "truth": [int(t) for t in truth],
        "pred": [int(p) for p in pred],
        "adjusted_rand": float(metrics.adjusted_rand_score(truth, pred)),
        "nmi": float(metrics.normalized_mutual_info_score(truth, pred)),
        "homogeneity": float(h),
        "completeness": float(comp),
        "v_measure": float(v),
        "purity": float(c.max(axis=0).sum() / c.sum()),
        "matched_accuracy": float(c[rows, cols].sum() / c.sum()),
    }


def cluster_cases():
    rng = np.random.default_rng(13)
    truth = rng.integers(0, 8, size=300)
    noisy = np.where(rng.uniform(size=300) < 0.6, (truth * 3 + 1) % 8, rng.integers(0, 6, size=300))
    perm = np.array([4, 0, 2, 1, 3])[rng.integers(0, 5, size=40)]
    return [
        cluster_case("8 classes vs 8 noisy clusters", truth, noisy),
        cluster_case("8 classes vs 3 clusters", truth, truth % 3),
        cluster_case("5 classes vs 12 clusters", rng.integers(0, 5, size=200), rng.integers(0, 12, size=200)),
        cluster_case("relabelled perfect match", perm, (perm + 2) % 5 * 10),
        cluster_case("independent [0,0,1,1] vs [0,1,0,1]", [0, 0, 1, 1], [0, 1, 0, 1]),
        cluster_case("one cluster", [0, 1, 2, 1, 0], [3, 3, 3, 3, 3]),
        cluster_case("both one cluster", [2, 2, 2], [5, 5, 5]),
        cluster_case("singletons", [0, 0, 0, 0], [0, 1, 2, 3]),
    ]


def modes_case(name, m, dt):
    eig = scipy.linalg.eigvals(m)
    # One mode per real eigenvalue and per complex-conjugate pair (the one with Im > 0).
    eig = eig[eig.imag >= 0]
    with np.errstate(divide="ignore"):
        tau = -dt / np.log(np.abs(eig))
    order = sorted(range(len(eig)), key=lambda i: (-tau[i], -eig[i].imag, -eig[i].real))
    return {
        "name": name,
        "dt": dt,
        "matrix": m.tolist(),
        "real": [float(eig[i].real) for i in order],
        "imag": [float(eig[i].imag) for i in order],
        "timescales": [float(tau[i]) for i in order],
        "frequencies": [float(np.abs(np.angle(eig[i])) / (2 * np.pi * dt)) for i in order],
    }


def modes_cases():
    rng = np.random.default_rng(14)
    a = rng.normal(size=(10, 10))
    a *= 0.95 / np.max(np.abs(np.linalg.eigvals(a)))
    b = rng.normal(size=(5, 5))
    b *= 0.8 / np.max(np.abs(np.linalg.eigvals(b)))
    s = rng.normal(size=(2, 2))
    rot = np.array([[np.exp(-0.1), -2 * np.pi * 0.025], [2 * np.pi * 0.025, np.exp(-0.1)]])
    return [
        modes_case("random 10x10, spectral radius 0.95", a, 1.0),
        modes_case("random 5x5, spectral radius 0.8, dt 0.01", b, 0.01),
        modes_case("SLDS-like 2x2 in a random basis", s @ rot @ np.linalg.inv(s), 1.0),
        modes_case("diagonal 0.5, 0.9, -0.3", np.diag([0.5, 0.9, -0.3]), 1.0),
    ]


def entropy_cases():
    rng = np.random.default_rng(15)
    vecs = [rng.uniform(size=15), np.array([0.0, 0.0, 3.0, 0.0]), np.array([1.0, 1.0, 1.0, 1.0]),
            np.array([0.2, 0.0, 0.5, 0.3, 0.0])]
    return [{"weights": v.tolist(), "entropy": float(scipy.stats.entropy(v))} for v in vecs]


def main():
    data = {
        "generated_by": "tests/scripts/make_analysis_expected.py",
        "versions": {"scikit-learn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__},
        "knn": knn_cases(),
        "assignment": assignment_cases(),
        "clustering": cluster_cases(),
        "modes": modes_cases(),
        "entropy": entropy_cases(),
    }
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    for c in data["knn"]:
        print(f"knn {c['name']}: accuracy {c['accuracy']:.4f}, auto agrees {c['auto_agrees']}")


if __name__ == "__main__":
    main()
