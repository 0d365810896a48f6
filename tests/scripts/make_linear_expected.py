#!/usr/bin/env python3
"""Expected values for tests/TiDHy.Functional.Tests/Analysis/LinearDecoderTests.fs, from scikit-learn.

Writes tests/TiDHy.Functional.Tests/linear-expected.json: fixed inputs (drawn here from numpy's
default_rng with fixed seeds) and what

    make_pipeline(StandardScaler(),
                  LogisticRegression(C=c, penalty="l2", multi_class="multinomial", solver="lbfgs",
                                     fit_intercept=True, tol=1e-10, max_iter=10000))

fits and predicts on them: the scaler's mean and scale, coef_, intercept_ (on the standardised
features), predict_proba and predict on held-out rows. tol=1e-10 and max_iter=10000 put scikit-learn
near the optimum of its (strictly convex) objective, but not at it: lbfgs stops on SciPy's default
ftol (a relative decrease below 2.2e-9) first, up to 2e-4 (relative to the largest coefficient) from
the optimum on these cases. So each case also records the same pipeline with solver="newton-cg",
tol=1e-8, which stops on the gradient (max |gradient| <= 1e-8 of the objective divided by C) and is
at the optimum, and the gradient norm of the objective at both fits (computed here with NumPy).
With two classes scikit-learn keeps the
second class's row of its symmetric fit (coef_ [1, d]); the first class's row is its negation.
CI does not run this script; rerun it (Debian: python3-sklearn python3-numpy) and review the diff
when a case is added. Made with scikit-learn 1.2.1, NumPy 1.24.2.
"""
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

# newton-cg's stopping rule: max |gradient| of the objective divided by C. 1e-9 and below make it
# warn that it did not converge (its line search cannot improve further in float64).
NEWTON_TOL = 1e-8
OUT = os.path.join(os.path.dirname(__file__), "..", "TiDHy.Functional.Tests", "linear-expected.json")


def delay_embed(x, lags):
    """Row t = [x_t, x_{t-1}, ..., x_{t-lags}], rows before the start repeating row 0."""
    n = x.shape[0]
    return np.concatenate([x[np.maximum(np.arange(n) - j, 0)] for j in range(lags + 1)], axis=1)


def objective(coef, intercept, x, y, c):
    """0.5·||W||² + C·Σ_i (logsumexp(z_i) − z_i[y_i]) and the norm of its gradient (numpy, independent
    of scikit-learn), with y class indices; coef [K, d] in the symmetric parametrisation."""
    z = x @ coef.T + intercept
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    rows = np.arange(len(y))
    f = 0.5 * np.sum(coef * coef) + c * np.sum(lse - z[rows, y])
    r = np.exp(z - lse[:, None])
    r[rows, y] -= 1.0
    grad = np.concatenate([(coef + c * r.T @ x).ravel(), c * r.sum(axis=0)])
    return f, float(np.linalg.norm(grad))


def symmetric(lr):
    """coef_ [K, d] and intercept_ [K], the second class's row negated into the first's for K = 2."""
    coef, intercept = lr.coef_, lr.intercept_
    if len(lr.classes_) == 2:
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    return coef, intercept


def fit(solver, c, x, y, tol=1e-10):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning would make the case worthless
        return LogisticRegression(
            C=c, penalty="l2", multi_class="multinomial", solver=solver, fit_intercept=True, tol=tol, max_iter=10000
        ).fit(x, y)


def case(name, train_x, train_y, test_x, test_y, c=1.0, extra=None):
    # Inputs rounded to 4 decimals, so that the file holds them exactly and stays small.
    train_x, test_x = np.round(train_x, 4), np.round(test_x, 4)
    scaler = StandardScaler().fit(train_x)
    xs = scaler.transform(train_x)
    lr = fit("lbfgs", c, xs, train_y)
    # lbfgs stops on SciPy's default ftol (2.2e-9 relative decrease) before its gtol of 1e-10: close
    # to, not at, the optimum. newton-cg stops on max |gradient| <= tol of the same objective (scaled
    # by 1/C): at the optimum. Both are recorded with the gradient norm of the objective above.
    opt = fit("newton-cg", c, xs, train_y, tol=NEWTON_TOL)
    y_index = np.searchsorted(lr.classes_, train_y)
    f_lbfgs, g_lbfgs = objective(*symmetric(lr), xs, y_index, c)
    f_opt, g_opt = objective(*symmetric(opt), xs, y_index, c)
    zs = scaler.transform(test_x)
    out = {
        "name": name,
        "c": c,
        "train_x": train_x.tolist(),
        "train_y": [int(v) for v in train_y],
        "test_x": test_x.tolist(),
        "test_y": [int(v) for v in test_y],
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "classes": [int(v) for v in lr.classes_],
        "coef": lr.coef_.tolist(),
        "intercept": lr.intercept_.tolist(),
        "n_iter": int(lr.n_iter_[0]),
        "proba": lr.predict_proba(zs).tolist(),
        "predictions": [int(v) for v in lr.predict(zs)],
        "accuracy": float(lr.score(zs, test_y)),
        "objective": f_lbfgs,
        "gradient_norm": g_lbfgs,
        "optimum_coef": opt.coef_.tolist(),
        "optimum_intercept": opt.intercept_.tolist(),
        "optimum_proba": opt.predict_proba(zs).tolist(),
        "optimum_predictions": [int(v) for v in opt.predict(zs)],
        "optimum_objective": f_opt,
        "optimum_gradient_norm": g_opt,
    }
    if extra:
        out.update(extra)
    return out


def blobs(rng, n, d, classes, separation):
    y = rng.integers(0, classes, size=n)
    centres = rng.normal(size=(classes, d)) * separation
    x = centres[y] + rng.normal(size=(n, d))
    return x, y


def cases():
    rng = np.random.default_rng(22)
    out = []
    for classes, d, sep in [(2, 3, 1.5), (3, 5, 1.5), (8, 20, 1.0)]:
        x, y = blobs(rng, 300, d, classes, sep)
        x = x * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d) * 5  # unequal scales and offsets
        out.append(case(f"blobs {classes} classes, {d}-D", x[:220], y[:220], x[220:], y[220:]))
    # Overlapping classes: the probabilities stay far from 0 and 1.
    x, y = blobs(rng, 400, 6, 4, 0.3)
    out.append(case("overlapping 4 classes, 6-D", x[:300], y[:300], x[300:], y[300:]))
    # Other regularisation strengths on one data set.
    x, y = blobs(rng, 260, 8, 5, 0.8)
    for c in [0.01, 0.2, 50.0]:
        out.append(case(f"5 classes, 8-D, C={c}", x[:200], y[:200], x[200:], y[200:], c=c))
    # A constant column (scale 1, centred to 0) and labels that are not 0..K-1.
    x, y = blobs(rng, 200, 4, 3, 1.2)
    x[:, 2] = 3.7
    labels = np.array([-2, 7, 40])[y]
    out.append(case("constant column, labels -2/7/40", x[:150], labels[:150], x[150:], labels[150:]))
    # Nearly separable: the penalty alone keeps the weights finite.
    x, y = blobs(rng, 160, 2, 2, 6.0)
    out.append(case("well separated 2 classes, 2-D", x[:120], y[:120], x[120:], y[120:]))
    # A delay-embedded random walk: 3 channels, 5 lags (edge padding); the label is the direction
    # of the last 4 steps in channels 0 and 1 (4 classes), which the embedding holds.
    walk = np.round(np.cumsum(rng.normal(size=(600, 3)), axis=0), 4)
    past = walk[np.maximum(np.arange(600) - 4, 0)]
    label = 2 * (walk[:, 0] > past[:, 0]) + (walk[:, 1] > past[:, 1])
    emb = delay_embed(walk, 5)
    out.append(
        case(
            "delay-embedded random walk, 3 channels x 6, 4 classes",
            emb[:450],
            label[:450],
            emb[450:],
            label[450:],
            extra={"walk": walk.tolist(), "lags": 5},
        )
    )
    return out


def main():
    doc = {
        "about": "scikit-learn " + sklearn.__version__ + ", NumPy " + np.__version__ + "; see tests/scripts/make_linear_expected.py",
        "linear": cases(),
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
