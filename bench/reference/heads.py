#!/usr/bin/env python3
"""Reference timings for `kindling fit-head`: scikit-learn SVC / LogisticRegression and XGBoost (hist).

Reads the same feature files as Kindling (safetensors: `features` f32 [N, D], `labels` i64 [N]),
standardises the features for SVM and logistic regression (StandardScaler fitted on the training
file, like Kindling's heads), fits each head and prints one JSON line per head:

    {"head": "svm-rbf", "impl": "scikit-learn 1.9.1", "fit_seconds": ..., "train_accuracy": ...,
     "test_accuracy": ..., "params": {...}}

`fit_seconds` covers the fit only (not loading, not standardisation), as Kindling's figure does.

Usage:
    python bench/reference/heads.py --train A.safetensors --test B.safetensors \
        [--heads svm-linear,svm-rbf,logreg,gbdt] [--c 1.0] [--gamma G] [--rounds 100] [--depth 6] \
        [--learning-rate 0.3] [--threads 2] [--repeat 3]

Needs numpy, safetensors, scikit-learn and xgboost (pip).
"""
import argparse
import json
import os
import time

import numpy as np
from safetensors.numpy import load_file


def load(path):
    t = load_file(path)
    return t["features"].astype(np.float64), t["labels"].astype(np.int64)


def timed(fit, repeat):
    """Best wall time of `repeat` fits (as Kindling reports)."""
    best, model = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        model = fit()
        best = min(best, time.perf_counter() - t0)
    return best, model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--heads", default="svm-linear,svm-rbf,logreg,gbdt")
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--gamma", type=float, default=None, help="RBF gamma; default 1/D (sklearn 'scale' on standardised data)")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--learning-rate", type=float, default=0.3)
    ap.add_argument("--bins", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    import sklearn
    import xgboost
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    xtr, ytr = load(args.train)
    xte, yte = load(args.test)
    scaler = StandardScaler().fit(xtr)
    str_, ste = scaler.transform(xtr), scaler.transform(xte)
    gamma = args.gamma if args.gamma is not None else 1.0 / xtr.shape[1]
    sk = f"scikit-learn {sklearn.__version__}"

    for head in args.heads.split(","):
        if head in ("svm-linear", "svm-rbf"):
            kernel = "linear" if head == "svm-linear" else "rbf"
            params = {"c": args.c, "tol": args.tol, "multiclass": "one-vs-one", "cache_size_mb": 200}
            if kernel == "rbf":
                params["gamma"] = gamma
            secs, m = timed(
                lambda: SVC(kernel=kernel, C=args.c, gamma=gamma, tol=args.tol, cache_size=200).fit(str_, ytr),
                args.repeat,
            )
            xa, xb, impl = str_, ste, sk
        elif head == "logreg":
            params = {"c": args.c, "solver": "lbfgs", "max_iter": 1000}
            secs, m = timed(lambda: LogisticRegression(C=args.c, max_iter=1000).fit(str_, ytr), args.repeat)
            xa, xb, impl = str_, ste, sk
        elif head == "gbdt":
            params = {
                "rounds": args.rounds,
                "max_depth": args.depth,
                "learning_rate": args.learning_rate,
                "max_bin": args.bins,
                "tree_method": "hist",
                "objective": "multi:softprob",
                "n_jobs": args.threads,
            }
            secs, m = timed(
                lambda: xgboost.XGBClassifier(
                    n_estimators=args.rounds,
                    max_depth=args.depth,
                    learning_rate=args.learning_rate,
                    max_bin=args.bins,
                    tree_method="hist",
                    n_jobs=args.threads,
                ).fit(xtr, ytr),
                args.repeat,
            )
            xa, xb, impl = xtr, xte, f"xgboost {xgboost.__version__}"
        else:
            raise SystemExit(f"unknown head {head}")
        out = {
            "head": head,
            "impl": impl,
            "fit_seconds": round(secs, 4),
            "train_accuracy": round(float((m.predict(xa) == ytr).mean()), 4),
            "test_accuracy": round(float((m.predict(xb) == yte).mean()), 4),
            "params": params,
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
