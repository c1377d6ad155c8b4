"""Routing accuracy and macro-F1 over (predicted, expected) queue pairs."""
from collections import Counter


def evaluate(pairs):
    pairs = list(pairs)
    correct = sum(1 for p, e in pairs if p == e)
    tp, fp, fn = Counter(), Counter(), Counter()
    for p, e in pairs:
        if p == e:
            tp[e] += 1
        else:
            fp[p] += 1
            fn[e] += 1
    labels = set(tp) | set(fp) | set(fn)
    f1s = []
    for label in labels:
        denom = 2 * tp[label] + fp[label] + fn[label]
        f1s.append(2 * tp[label] / denom if denom else 0.0)
    return {
        "routing_accuracy": correct / len(pairs) if pairs else 0.0,
        "routing_macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
    }
