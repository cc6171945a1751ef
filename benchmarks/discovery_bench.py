"""Open-world discovery and attribution on the built-in benchmark (numbers labelled as such).

    python benchmarks/discovery_bench.py --bench DIR [--epochs 8] [--iterations 3]

1. Fingerprint features: cnn-small trained to classify the *seen* fake sources (train
   split, splices left out; crops of 64 px), 64-d pooled features of every image.
2. Attribution head on those features (known = seen sources, train split), threshold
   calibrated on the val split: closed-set top-1/top-3 on seen sources of the test
   split, unknown-vs-known AUROC / FPR@95 on the test split (held-out sources = unknown)
   for the WTA test and the max-softmax / energy baselines.
3. Discovery: known = train-split seen fakes, discovery set = all test-split fakes
   (seen + held-out sources); OpenWorldDiscovery, then a k-means-only baseline on the
   same input features at the same number of clusters.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from sklearn.cluster import KMeans

    from synthtrace.backbones.cnn import CNNSmall
    from synthtrace.discovery.openworld import OpenWorldDiscovery
    from synthtrace.evaluation.clustering import clustering_metrics, confusion_matrix, ood_metrics, top_k_accuracy
    from synthtrace.heads.attribution import AttributionHead
    from synthtrace.heads.cnn_small import to_tensor
    from synthtrace.io.images import load_images
    from synthtrace.io.manifest import read_manifest

    m = read_manifest(f"{args.bench}/manifest.csv")
    fakes = [r for r in m if r.label == "fake" and not r.mask_path and not r.source.startswith("splice:")]
    split = np.array([r.split for r in fakes])
    source = np.array([r.source for r in fakes])
    seen = sorted(set(source[split == "train"]))
    t0 = time.perf_counter()
    imgs = [im.rgb for im in load_images([m.path_of(r) for r in fakes], progress=False)]
    print(f"{len(fakes)} fake images ({len(seen)} seen sources: {seen}); decoded in {time.perf_counter() - t0:.1f} s")

    # 1. multi-class cnn-small on seen sources
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = CNNSmall()
    model.classifier = torch.nn.Linear(model.feature_dim, len(seen))
    tr = np.flatnonzero(split == "train")
    ytr = np.array([seen.index(s) for s in source[tr]])
    tens = [to_tensor(im) for im in imgs]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    t0 = time.perf_counter()
    for ep in range(args.epochs):
        model.train()
        order = rng.permutation(tr.size)
        for s in range(0, order.size, 32):
            idx = order[s : s + 32]
            batch = []
            for i in idx:
                t = tens[tr[i]]
                h, w = t.shape[-2:]
                top, left = int(rng.integers(0, (h - 64) // 8 + 1)) * 8, int(rng.integers(0, (w - 64) // 8 + 1)) * 8
                batch.append(t[:, top : top + 64, left : left + 64])
            loss = F.cross_entropy(model.classifier(model.embed(torch.stack(batch))), torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {ep + 1}/{args.epochs}: loss {loss.item():.3f}", flush=True)
    model.eval()
    with torch.inference_mode():
        feats = np.concatenate([model.embed(torch.stack(tens[s : s + 64])).numpy() for s in range(0, len(tens), 64)])
    print(f"cnn-small (source classifier) trained and features extracted in {time.perf_counter() - t0:.1f} s")

    res: dict = {}
    # 2. attribution
    is_seen = np.isin(source, seen)
    trm, vam, tem = split == "train", (split == "val") & is_seen, split == "test"
    for score in ("wta", "msp", "energy"):
        head = AttributionHead(unknown_score=score, random_state=args.seed).fit(feats[trm], source[trm])
        head.calibrate(feats[vam], source[vam])
        r = ood_metrics(~is_seen[tem], head.unknown_scores(feats[tem]))
        res[f"unknown_{score}"] = r
        print(f"unknown-vs-known ({score}): AUROC {r['auroc']:.3f}, FPR@95%TPR {r['fpr_at_95_tpr']:.3f}")
    ks = tem & is_seen
    P = head.predict_proba(feats[ks])
    res["top1"] = top_k_accuracy(source[ks], P, 1, classes=head.classes_)
    res["top3"] = top_k_accuracy(source[ks], P, 3, classes=head.classes_)
    cm, lab = confusion_matrix(source[ks], head.predict(feats[ks], closed_set=True), labels=list(head.classes_))
    print(f"closed-set attribution on seen sources (test): top-1 {res['top1']:.3f}, top-3 {res['top3']:.3f}")
    print("confusion (rows true, cols predicted):", lab)
    print(cm)

    # 3. discovery
    known = trm
    disc = tem
    t0 = time.perf_counter()
    d = OpenWorldDiscovery(
        n_iterations=args.iterations, n_clusters=60, min_cluster_size=40, epochs_first=30, epochs_later=30,
        n_hashes=2048, random_state=args.seed, verbose=True,
    ).fit(feats[known], source[known], feats[disc], eval_labels=source[disc])
    ow = clustering_metrics(source[disc], d.labels_, d.features_)
    print(f"discovery ({time.perf_counter() - t0:.1f} s): {json.dumps(ow)}")
    k = ow["n_clusters"]
    km = KMeans(n_clusters=k, n_init=10, random_state=args.seed).fit_predict(
        (feats[disc] - feats[disc].mean(0)) / (feats[disc].std(0) + 1e-12))
    base = clustering_metrics(source[disc], km)
    print(f"k-means-only baseline at k={k}: {json.dumps(base)}")
    held_out = sorted(set(source[disc]) - set(seen))
    for name, mm in (("open-world", ow), ("k-means", base)):
        print(f"{name:10s} purity {mm['purity']:.3f} (unweighted {mm['purity_unweighted']:.3f}) NMI {mm['nmi']:.3f} "
              f"ARI {mm['ari']:.3f} clustered {mm['share_clustered']:.1%} sources {mm['sources_discovered']}/{mm['n_sources']} "
              f"held-out missing {[s for s in mm['sources_missing'] if s in held_out]}")
    res.update({"openworld": ow, "kmeans": base, "history": d.history_, "held_out": held_out})
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
