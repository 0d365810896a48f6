#!/usr/bin/env python3
"""Times upstream TiDHy's PyTorch training step on the shape of `tidhy bench train`.

This harness is TiDHy.Functional's own code. It imports the PyTorch-era model and training
function from a checkout of github.com/elliottabe/TiDHy that the caller names (`--upstream DIR`,
for example commit da3d280: `git archive da3d280 | tar -x -C DIR`), builds the model with the
configuration `tidhy bench train` uses, and times whole training steps: one call of upstream's
`train` function on a loader holding a single batch, which runs what upstream's training loop does
per batch (inference over every step of the window, the losses, GradNorm with its backward passes,
gradient clipping and the AdamW step).

The configuration is the SLDS data set's model (upstream's default_model.yaml with SLDS.yaml's
overrides): R = 10, R2 = 5, M = 15, H = 50, MSE loss, GradNorm (alpha 0.5, lr_weights 0.01),
cos_eta 5, Orth_alpha_r2 5, clip_grad 500, AdamW with learning rates 0.01 (decoder), 0.01
(temporal), 0.001 (hypernetwork) and weight decay 1e-5, batch-wide convergence. Two settings as in
`tidhy bench train`: `fixed` (max_iter 50, tol 0: every inference runs 50 iterations) and
`converge` (max_iter 200, tol 0.01). Upstream averages inference's data terms over the batch; this
project's demo sums them per sample with the step lr_r / 16, so the harness sets upstream's
lr_r = lr_r2 = 0.2 * windows / 16 (0.2, upstream's own value, at the demo's 16 windows) and both
move each sample by the same step. Upstream trains in float32 (its loader converts with
`.float()`), so the harness does too.

Output: one JSON line per setting, with the field names of `tidhy bench train`'s rows and
`"impl": "upstream-pytorch"`. Exit code 2, with one line on standard error, when the checkout,
torch or numpy is missing. `--check` only checks that the model and training function import.

`--inference` times upstream's inference instead, on the workload of `tidhy bench`: one call of
the model's `forward` (upstream's inference: `inf`, SGD with Nesterov momentum on r and r2, at every
step after the first, and the window's losses) over a window of `--length` (3) steps, max_iter 50,
tol 0 (every inference step runs exactly 50 iterations), for each batch size of `--batches`; the
model is the one above with its inference settings (temp_weight 2, no shrinkage, no inference L1,
no inference GradNorm, batch-wide convergence) and lr_r = lr_r2 = `--lr-r` (0.02, `tidhy bench`'s:
both average the data terms over the batch, so each sample moves by the same step). Each batch's
time is the best forward after a warm-up (at least one call and `--warmup` seconds), of at least
`--runs` calls and more while their total stays under `--budget` seconds (at most `--max-runs`),
as `tidhy bench` times its own; divided by (length - 1) x max_iter it is the time per iteration.
One JSON line per batch with the field names of `tidhy bench --json`'s rows.
"""

import argparse
import importlib
import json
import os
import sys
import time
import types

SETTINGS = {"fixed": (50, 0.0), "converge": (200, 0.01)}

# Modules that upstream's utility modules import at the top but that neither the model nor the
# training step uses (plots, HDF5 files, data frames, configuration files, the JAX port). When one is
# not installed, the harness puts an empty stand-in for it in sys.modules so that the imports
# succeed; the stand-ins are listed in the output's "stubbed" field. Upstream's files are not changed.
STUBBABLE = [
    "jax",
    "jax.numpy",
    "h5py",
    "pandas",
    "omegaconf",
    "yaml",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.gridspec",
    "seaborn",
    "tqdm",
    "tqdm.auto",
]


def fail(message):
    print(f"train_step.py: {message}", file=sys.stderr)
    sys.exit(2)


class _Anything:
    """A stand-in value: any attribute, call or iteration gives another stand-in (or nothing)."""

    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and hasattr(args[0], "__iter__"):
            return args[0]  # tqdm(iterable) stays the iterable
        return _Anything()

    def __iter__(self):
        return iter(())


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()


def stub_missing():
    stubbed = []
    for name in STUBBABLE:
        try:
            importlib.import_module(name)
        except Exception:
            module = _StubModule(name)
            module.__path__ = []  # a package, so that its submodules import too
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, module)
            stubbed.append(name)
    return stubbed


def import_upstream(upstream):
    model_file = os.path.join(upstream, "TiDHy", "models", "TiDHy.py")
    if not os.path.isdir(upstream):
        fail(f"--upstream {upstream}: no such directory.")
    if not os.path.isfile(model_file):
        fail(
            f"--upstream {upstream}: no TiDHy/models/TiDHy.py there; expected a checkout of "
            "github.com/elliottabe/TiDHy's PyTorch-era code (e.g. commit da3d280)."
        )
    try:
        import torch  # noqa: F401
    except Exception as e:
        fail(f"{sys.executable} cannot import torch ({e}); install PyTorch for this python or pass another one.")
    try:
        import numpy  # noqa: F401
    except Exception as e:
        fail(f"{sys.executable} cannot import numpy ({e}).")
    stubbed = stub_missing()
    sys.path.insert(0, os.path.abspath(upstream))
    try:
        model_module = importlib.import_module("TiDHy.models.TiDHy")
        utils = importlib.import_module("TiDHy.utils.utils")
        # At da3d280, TiDHy/utils/__init__.py no longer re-exports utils.py (the line is commented
        # out), yet Train_TiDHy.py imports RunningAverage and cos_sim_mat from TiDHy.utils: the
        # harness re-exports those two names on the package before importing it.
        package = sys.modules["TiDHy.utils"]
        for name in ("RunningAverage", "cos_sim_mat"):
            if not hasattr(package, name):
                setattr(package, name, getattr(utils, name))
        train_module = importlib.import_module("TiDHy.Train_TiDHy")
    except SystemExit:
        raise
    except Exception as e:
        fail(f"--upstream {upstream}: importing upstream's model and training step failed: {type(e).__name__}: {e}")
    if not hasattr(model_module, "TiDHy") or not hasattr(train_module, "train"):
        fail(f"--upstream {upstream}: TiDHy/models/TiDHy.py or TiDHy/Train_TiDHy.py lacks the TiDHy class or train().")
    return model_module.TiDHy, train_module.train, stubbed


class Params(dict):
    """Upstream reads its configuration both as attributes and as items (an OmegaConf DictConfig)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value


def params_for(features, windows, max_iter, tol):
    lr = 0.2 * windows / 16.0
    return Params(
        input_dim=features,
        r_dim=10,
        r2_dim=5,
        mix_dim=15,
        hyper_hid_dim=50,
        r2_decoder_hid_dim=50,
        max_iter=max_iter,
        tol=tol,
        loss_type="MSE",
        dyn_bias=False,
        nonlin_decoder=False,
        low_rank_temp=False,
        use_r2_decoder=False,
        lr_r=lr,
        lr_r2=lr,
        learning_rate_gamma=0.5,
        learning_rate_s=0.01,
        learning_rate_t=0.01,
        learning_rate_h=0.001,
        lr_weights=0.01,
        lr_weights_inf=0.005,
        normalize_temporal=False,
        normalize_spatial=False,
        stateful=False,
        temp_weight=2,
        spat_weight=0.5,
        grad_norm=True,
        grad_norm_inf=False,
        grad_alpha=0.5,
        grad_alpha_inf=1,
        Lnuc_alpha=0,
        L0_alpha=0,
        L1_alpha=0,
        L1_alpha_spat=0,
        L1_alpha_inf=0,
        L1_alpha_W=0,
        Orth_alpha_spat=0,
        Orth_alpha_r2=5,
        L1_alpha_r2=0,
        L1_inf_w=0,
        L1_inf_r=0,
        L1_inf_r2=0,
        lmda_r=0,
        lmda_r2=0,
        cos_eta=5,
        clip_grad=500,
        weight_decay=0.00001,
        batch_converge=True,
    )


def windows_data(torch, args):
    """The batch: the windows in --data (float64, little-endian, windows x length x features, as
    `tidhy bench train --upstream` writes them), or seeded normal values scaled to max |x| = 1."""
    shape = (args.windows, args.length, args.features)
    if args.data:
        import numpy

        values = numpy.fromfile(args.data, dtype="<f8")
        if values.size != shape[0] * shape[1] * shape[2]:
            fail(f"--data {args.data}: {values.size} values, expected {shape[0]} x {shape[1]} x {shape[2]}.")
        return torch.tensor(values.reshape(shape)).float(), "tidhy-slds"
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g)
    return (x / x.abs().max()).float(), "random-normal"


def count_predictions(model):
    """Counts inference iterations: upstream's inference calls temporal_prediction once per
    iteration, and the forward pass once more per step after the first. Returns the counter."""
    calls = [0]
    predict = model.temporal_prediction

    def counted(*a, **k):
        calls[0] += 1
        return predict(*a, **k)

    model.temporal_prediction = counted
    return calls


def about(torch, args, params, data_name, stubbed):
    """The fields every row ends with: threads, versions, data, lr_r, stand-ins and checkout."""
    return {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "data": data_name,
        "lr_r": params.lr_r,
        "stubbed": stubbed,
        "upstream": os.path.abspath(args.upstream),
    }


def measure(torch, TiDHy, train, args, setting, X, data_name, stubbed):
    max_iter, tol = SETTINGS[setting]
    params = params_for(args.features, args.windows, max_iter, tol)
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = TiDHy(params, device, show_progress=False, show_inf_progress=False).to(device)
    # The optimiser as upstream's Run_TiDHy.py builds it: one AdamW, three parameter groups.
    groups = [
        {"params": list(model.spatial_decoder.parameters()), "lr": params.learning_rate_s, "weight_decay": params.weight_decay},
        {"params": [model.temporal], "lr": params.learning_rate_t, "weight_decay": params.weight_decay},
        {"params": list(model.hypernet.parameters()), "lr": params.learning_rate_h, "weight_decay": params.weight_decay},
    ]
    optimizer = [torch.optim.AdamW(params=groups)]
    loader = [(X,)]
    calls = count_predictions(model)

    _, _, _, optimizer = train(model, optimizer, loader, params, device)  # warm-up step
    times = []
    calls[0] = 0
    for _ in range(args.steps):
        start = time.perf_counter()
        _, _, _, optimizer = train(model, optimizer, loader, params, device)
        times.append(time.perf_counter() - start)
    per_step = sum(times) / len(times)
    iterations = calls[0] / args.steps - (args.length - 1)
    return {
        "impl": "upstream-pytorch",
        "backend": "pytorch",
        "setting": setting,
        "batch": args.windows,
        "length": args.length,
        "max_iter": max_iter,
        "tol": tol,
        "precision": "float32",
        "steps": args.steps,
        "seconds_per_step": per_step,
        "ms_per_step": 1000.0 * per_step,
        "best_seconds_per_step": min(times),
        "windows_per_second": args.windows / per_step,
        "mean_iterations": iterations / (args.length - 1),
        "iterations_per_step": round(iterations, 3),
        **about(torch, args, params, data_name, stubbed),
    }


def inference_windows(torch, args, batches):
    """One window batch per batch size: from --data (float64, little-endian, each batch's
    batch x length x features values one after the other, as `tidhy bench --upstream` writes them),
    or seeded normal values scaled by 0.5."""
    sizes = [b * args.length * args.features for b in batches]
    if args.data:
        import numpy

        values = numpy.fromfile(args.data, dtype="<f8")
        if values.size != sum(sizes):
            fail(f"--data {args.data}: {values.size} values, expected {sum(sizes)} (batches {batches} x {args.length} x {args.features}).")
        out, start = [], 0
        for b, n in zip(batches, sizes):
            out.append(torch.tensor(values[start : start + n].reshape(b, args.length, args.features)).float())
            start += n
        return out, "tidhy-bench-window"
    g = torch.Generator().manual_seed(1)
    return [(0.5 * torch.randn((b, args.length, args.features), generator=g)).float() for b in batches], "random-normal"


def measure_inference(torch, TiDHy, args, batch, X, data_name, stubbed):
    max_iter, tol = args.max_iter, args.tol
    params = params_for(args.features, batch, max_iter, tol)
    params.lr_r = args.lr_r
    params.lr_r2 = args.lr_r
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = TiDHy(params, device, show_progress=False, show_inf_progress=False).to(device)
    calls = count_predictions(model)

    start = time.perf_counter()
    model(X)  # warm-up: at least one call, then until --warmup seconds have passed
    while time.perf_counter() - start < args.warmup:
        model(X)
    times = []
    calls[0] = 0
    total = time.perf_counter()
    while len(times) < args.runs or (len(times) < args.max_runs and time.perf_counter() - total < args.budget):
        t0 = time.perf_counter()
        model(X)
        times.append(time.perf_counter() - t0)
    best = min(times)
    iterations = (args.length - 1) * max_iter
    per_iteration = best / iterations
    return {
        "impl": "upstream-pytorch",
        "backend": "pytorch",
        "batch": batch,
        "length": args.length,
        "max_iter": max_iter,
        "tol": tol,
        "precision": "float32",
        "seconds_per_iteration": per_iteration,
        "sample_iterations_per_second": batch / per_iteration,
        "forward_seconds": best,
        "runs": len(times),
        # Counted: what upstream's forward ran per call (the iterations of every step).
        "iterations_per_forward": calls[0] / len(times) - (args.length - 1),
        **about(torch, args, params, data_name, stubbed),
    }


def main():
    p = argparse.ArgumentParser(description="Times upstream TiDHy's PyTorch training step (one JSON line per setting).")
    p.add_argument("--upstream", required=True, help="a checkout of github.com/elliottabe/TiDHy's PyTorch-era code")
    p.add_argument("--windows", type=int, default=16, help="windows per batch (default 16)")
    p.add_argument("--length", type=int, help="steps per window (default 100; 3 with --inference)")
    p.add_argument("--features", type=int, default=20, help="channels (default 20)")
    p.add_argument("--steps", type=int, default=3, help="measured steps per setting after one warm-up step (default 3)")
    p.add_argument("--setting", default="fixed,converge", help="comma-separated: fixed, converge (default both)")
    p.add_argument("--data", help="windows x length x features float64 values (little-endian); default seeded random")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    p.add_argument("--check", action="store_true", help="only check that upstream's model imports; print nothing")
    p.add_argument("--inference", action="store_true", help="time upstream's inference (forward) instead of its training step")
    p.add_argument("--batches", default="16,256,2048", help="--inference: comma-separated batch sizes (default 16,256,2048)")
    p.add_argument("--max-iter", type=int, default=50, help="--inference: max_iter (default 50)")
    p.add_argument("--tol", type=float, default=0.0, help="--inference: tol (default 0)")
    p.add_argument("--lr-r", type=float, default=0.02, help="--inference: lr_r and lr_r2 (default 0.02)")
    p.add_argument("--warmup", type=float, default=1.0, help="--inference: warm-up seconds (default 1)")
    p.add_argument("--runs", type=int, default=5, help="--inference: least timed calls per batch (default 5)")
    p.add_argument("--max-runs", type=int, default=200, help="--inference: most timed calls per batch (default 200)")
    p.add_argument("--budget", type=float, default=2.0, help="--inference: seconds of timed calls beyond --runs (default 2)")
    args = p.parse_args()
    if args.length is None:
        args.length = 3 if args.inference else 100
    if args.inference:
        try:
            cases = [int(b) for b in args.batches.split(",") if b]
        except ValueError:
            fail(f"--batches: '{args.batches}' is not a comma-separated list of integers.")
        if not cases or min(cases) < 1 or args.length < 2 or args.features < 1 or args.max_iter < 1 or args.runs < 1:
            fail("--batches, --features, --max-iter and --runs must be >= 1 and --length >= 2.")
    else:
        cases = [s for s in args.setting.split(",") if s]
        for s in cases:
            if s not in SETTINGS:
                fail(f"--setting: '{s}' is not one of fixed, converge.")
        if args.windows < 1 or args.length < 2 or args.features < 1 or args.steps < 1:
            fail("--windows, --features and --steps must be >= 1 and --length >= 2.")

    TiDHy, train, stubbed = import_upstream(args.upstream)
    if args.check:
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.inference:
        windows, data_name = inference_windows(torch, args, cases)
        rows = (measure_inference(torch, TiDHy, args, b, X, data_name, stubbed) for b, X in zip(cases, windows))
    else:
        X, data_name = windows_data(torch, args)
        rows = (measure(torch, TiDHy, train, args, s, X, data_name, stubbed) for s in cases)
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
