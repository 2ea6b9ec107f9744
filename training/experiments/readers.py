"""Readers (the model's stand-ins) and the metrics of the study.

The served model outputs a valence score in [-3, 3]; so the main reader is a regression to the
score (ridge, or a small MLP), thresholded to 3 classes (+-0.5) and to the sign (> 0). Logistic
regression (3 classes) is the classification reference; its score is the expected class valence.
Every reader standardises its inputs with statistics of its training rows only.
"""

from __future__ import annotations

import numpy as np

from ..msa_model.valence import valence_class

RIDGE_LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # alpha = lambda x total training weight
LOGREG_CS = (1e-3, 1e-2, 1e-1, 1.0)


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train rows (n, D) -> (mean, std) with constant columns given std 1."""
    m, s = x.mean(0), x.std(0)
    return m, np.where(s > 1e-9, s, 1.0)


def ridge_path(
    x_train: np.ndarray, y: np.ndarray, w: np.ndarray, x_eval: list[np.ndarray], lambdas=RIDGE_LAMBDAS
) -> list[list[np.ndarray]]:
    """Weighted ridge regression for several penalties at once (one eigendecomposition of the
    weighted Gram matrix). -> preds[i_lambda][i_eval] (n_eval,), clipped to [-3, 3]."""
    m, s = standardiser(x_train)
    xs = (x_train - m) / s  # (n, D)
    w = w / w.mean()
    ym = float(np.sum(w * y) / np.sum(w))
    xm = (w @ xs) / np.sum(w)  # weighted centring
    xc = xs - xm
    gram = (xc * w[:, None]).T @ xc  # (D, D)
    evals, evecs = np.linalg.eigh(gram)
    proj = evecs.T @ (xc.T @ (w * (y - ym)))  # (D,)
    evals_x = [((xe - m) / s - xm) @ evecs for xe in x_eval]  # eigen-basis inputs
    out = []
    for lam in lambdas:
        coef = proj / (np.maximum(evals, 0) + lam * np.sum(w))
        out.append([np.clip(ex @ coef + ym, -3.0, 3.0) for ex in evals_x])
    return out


def logreg_path(
    x_train: np.ndarray,
    cls: np.ndarray,
    labels: np.ndarray,
    w: np.ndarray,
    x_eval: list[np.ndarray],
    cs=LOGREG_CS,
    seed: int = 0,
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Multinomial logistic regression (classes 0 neg, 1 neu, 2 pos) for several C.
    -> out[i_c][i_eval] = (probabilities (n, 3), expected valence (n,)); the expected valence uses
    each class's mean training label."""
    from sklearn.linear_model import LogisticRegression

    m, s = standardiser(x_train)
    xs = (x_train - m) / s
    centres = np.array([labels[cls == k].mean() if np.any(cls == k) else 0.0 for k in range(3)])
    out = []
    for c in cs:
        model = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(xs, cls, sample_weight=w / w.mean())
        res = []
        for xe in x_eval:
            p = np.zeros((len(xe), 3))
            p[:, model.classes_] = model.predict_proba((xe - m) / s)
            res.append((p, p @ centres))
        out.append(res)
    return out


def mlp_fit_predict(
    x_train: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    x_eval: list[np.ndarray],
    alpha: float = 1e-2,
    hidden: int = 64,
    seed: int = 0,
) -> list[np.ndarray]:
    """A one-hidden-layer MLP regression to the score (sklearn, early stopping on 10 % of the
    training rows, fixed seed). Sample weights are applied by resampling rows (sklearn's MLP
    takes none): rows drawn with probability proportional to w, as many as the training set."""
    from sklearn.neural_network import MLPRegressor

    m, s = standardiser(x_train)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x_train), size=len(x_train), replace=True, p=w / w.sum())
    model = MLPRegressor(
        hidden_layer_sizes=(hidden,), alpha=alpha, early_stopping=True, max_iter=300, random_state=seed
    ).fit((x_train[idx] - m) / s, y[idx])
    return [np.clip(model.predict((xe - m) / s), -3.0, 3.0) for xe in x_eval]


def balanced_weights(groups: list[np.ndarray]) -> np.ndarray:
    """Weights that give every cell of the joint grouping the same total weight (mean 1)."""
    keys = np.array(["|".join(str(g[i]) for g in groups) for i in range(len(groups[0]))])
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return w / w.mean()


def metrics(
    labels: np.ndarray,
    score: np.ndarray,
    emotions: np.ndarray,
    cls_pred: np.ndarray | None = None,
    sign_pos: np.ndarray | None = None,
) -> dict:
    """Metrics of one evaluation set. score: predicted valence; cls_pred: predicted class (default
    the score cut at +-0.5); sign_pos: predicted positive (default score > 0).
      acc3          3-class accuracy (%)
      mae           mean |score - label|
      bal_sign      balanced accuracy of the sign over utterances with |label| > 0.5 (%)
      bal_sign_no_surprise  the same without "surprised" utterances (TESS's pleasant surprise)
      happy_neg     % of happy utterances given a negative sign; angry_pos: % of angry given positive
      happy_angry   balanced sign accuracy over happy and angry utterances only (arousal matched)
    """
    labels = np.asarray(labels, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    cls_true = valence_class(labels)
    cls_pred = valence_class(score) if cls_pred is None else cls_pred
    sign_pos = score > 0 if sign_pos is None else sign_pos

    def bal(mask):
        pos, neg = mask & (labels > 0.5), mask & (labels < -0.5)
        if not pos.any() or not neg.any():
            return float("nan")
        return 50.0 * (float(sign_pos[pos].mean()) + float((~sign_pos[neg]).mean()))

    every = np.ones(len(labels), dtype=bool)
    happy, angry = emotions == "happy", emotions == "angry"
    return {
        "n": int(len(labels)),
        "acc3": 100.0 * float((cls_true == cls_pred).mean()),
        "mae": float(np.abs(score - labels).mean()),
        "bal_sign": bal(every),
        "bal_sign_no_surprise": bal(emotions != "surprised"),
        "recall_pos": 100.0 * float(sign_pos[labels > 0.5].mean()) if (labels > 0.5).any() else float("nan"),
        "recall_neg": 100.0 * float((~sign_pos[labels < -0.5]).mean()) if (labels < -0.5).any() else float("nan"),
        "happy_neg": 100.0 * float((~sign_pos[happy]).mean()) if happy.any() else float("nan"),
        "angry_pos": 100.0 * float(sign_pos[angry].mean()) if angry.any() else float("nan"),
        "happy_angry": bal(happy | angry),
    }


def baselines(train_labels: np.ndarray, test_labels: np.ndarray) -> dict:
    """Majority (training majority class for every test row), chance, and the constant training
    mean score (MAE)."""
    tr, te = valence_class(train_labels), valence_class(test_labels)
    major = int(np.bincount(tr, minlength=3).argmax())
    return {
        "majority_acc3": 100.0 * float((te == major).mean()),
        "chance_acc3": 100.0 / 3,
        "chance_bal_sign": 50.0,
        "mean_mae": float(np.abs(test_labels - train_labels.mean()).mean()),
    }
