"""Open-world discovery and attribution on the built-in benchmark (numbers labelled as such).

    python benchmarks/discovery_bench.py --bench DIR [--features fingerprint|learned|learned+fingerprint] [--iterations 4]
        [--seeds 3] [--split-postprocessed] [--grid "name=v1,v2;name=..."] [--cache F.npz] [--out F.json]
        [--fingerprint DIR | --epochs N --augment P --crop C --members M --normalize wccn|none --pixels]
        [--fp-cache FP.npz --fp-pca N --threads T --no-discovery --report-half val --consensus R]
        [--export-manifests DIR]
        [--self-train [--self-train-epochs 30] [--self-train-share 0.5] [--self-train-augment P] [--self-train-core stable]
                      [--self-train-grid "name=v1,v2;..."]]

1. Features of every fake (splices left out): ``fingerprint`` (default; the
   handcrafted grid-aligned residual statistics of ``synthtrace.features.fingerprint``),
   ``learned`` (``synthtrace.heads.learned_fingerprint``: cnn-small trained to classify
   the seen sources on the noise residual of grid-aligned crops of the train split,
   ``--augment`` the build's own platform post-processing, ``--members`` seeded networks
   side by side, ``--normalize wccn`` within-class covariance normalisation; or loaded
   with ``--fingerprint DIR``) or ``learned+fingerprint`` (both side by side, each
   dimension standardised downstream).
2. Attribution head (known = seen sources, train split), threshold calibrated on the
   val split: closed-set top-1/top-3 on seen sources of the test split; unknown-vs-known
   AUROC / FPR@95 on the test split (held-out sources = unknown) for the WTA test and
   the max-softmax / energy baselines.
3. Discovery: known = train-split seen fakes; the test-split fakes (seen + held-out
   sources) are cut by scene into a val half (settings chosen there, from --grid) and
   a test half (reported; a grid of one setting skips the val half; ``--report-half val``
   reports a fixed setting on the val half instead). OpenWorldDiscovery (``--consensus R``:
   R runs of it joined by ``ConsensusDiscovery``), then a k-means-only baseline on the
   same features at the same number of clusters (with ``--consensus``, also R k-means
   runs joined the same way).
4. ``--self-train`` (with ``--fingerprint DIR``): per half and seed, the run of step 3's
   setting, the fingerprint fine-tuned on the cores of its clusters
   (``synthtrace.discovery.selftrain``), then step 3 again on the fine-tuned features.

``--out`` JSON: the attribution numbers at the top level, discovery under ``discovery``
(and ``self_trained``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import zlib
from pathlib import Path

import numpy as np


def learned_features(imgs, source, split, seen, args) -> np.ndarray:
    """The library's learned fingerprint (``synthtrace.heads.learned_fingerprint``): loaded
    from ``--fingerprint DIR``, or trained here on the seen sources of the train split (val
    accuracy on the val split printed every 5 epochs)."""
    from synthtrace.heads.learned_fingerprint import LearnedFingerprint, LearnedFingerprintConfig

    if args.fingerprint:
        fp = LearnedFingerprint.from_pretrained(args.fingerprint)
        print(f"learned fingerprint {args.fingerprint}: {fp.config.to_dict()}")
    else:
        cfg = LearnedFingerprintConfig(epochs=args.epochs, augment=args.augment, crop=args.crop, seed=args.seed,
                                       residual=not args.pixels, members=args.members, normalize=args.normalize)
        tr = np.flatnonzero(split == "train")
        va = np.flatnonzero((split == "val") & np.isin(source, seen))
        fp = LearnedFingerprint(cfg).fit([imgs[i] for i in tr], source[tr], val_images=[imgs[i] for i in va],
                                         val_labels=source[va])
        print(f"trained in {fp.training_['seconds']:.0f} s, val accuracy {fp.training_['val_accuracy']:.3f} "
              f"(members {fp.training_['member_val_accuracy']})")
    return fp.transform(imgs).astype(np.float64)


def postprocessed_fakes(bench: str, fakes, splits=("test",)) -> np.ndarray:
    """Which fakes the benchmark's shared platform post-processing touched (resize or blur).

    The manifest does not record it, so the scenes of ``splits`` are rendered again with
    the build's own code and seeds (bench.json config), recording each ``postprocess``
    decision; the re-rendered bytes must equal the files on disk, else this refuses."""
    import tempfile

    from synthtrace.bench import build as B

    cfg_d = json.loads(Path(bench, "bench.json").read_text())["config"]
    cfg = B.BenchConfig(**{k: v for k, v in cfg_d.items() if k in B.BenchConfig.__dataclass_fields__})
    plans = [pl for pl in B.plan_scenes(cfg) if pl.split in splits]
    touched: dict[str, bool] = {}
    real_pp = B.postprocess
    calls: list[bool] = []

    def recording(img, rng, p):
        out = real_pp(img, rng, p)
        calls.append(out is not img)
        return out

    import torch

    B.postprocess = recording
    threads = torch.get_num_threads()
    try:
        B._worker_init()  # the build's own settings (one torch thread), else the bytes may differ
        with tempfile.TemporaryDirectory() as tmp:
            for split in splits:
                Path(tmp, "images", split).mkdir(parents=True)
            Path(tmp, "masks").mkdir()
            for pl in plans:
                calls.clear()
                rows = B.render_plan(pl, cfg, Path(tmp))
                for row, hit in zip(rows, calls):
                    if row.label == "fake" and not row.mask_path:
                        if Path(tmp, row.path).read_bytes() != Path(bench, row.path).read_bytes():
                            raise SystemExit(f"{bench}: re-rendered {row.path} differs from the file; "
                                             "the build code changed since, cannot recover post-processing")
                        touched[row.path] = hit
    finally:
        B.postprocess = real_pp
        torch.set_num_threads(threads)
    return np.array([touched.get(r.path, False) for r in fakes])


def parse_grid(text: str) -> list[dict]:
    """Every combination of a grid such as ``"a=1,2;b=true"``: [{"a": 1, "b": True}, {"a": 2, "b": True}]."""
    def parse(v: str):
        low = v.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "none":
            return None
        for type_ in (int, float):
            try:
                return type_(v)
            except ValueError:
                pass
        return v.strip()

    pairs = [kv.split("=", 1) for kv in text.split(";") if kv.strip()]
    keys, values = [k.strip() for k, _ in pairs], [[parse(v) for v in vs.split(",")] for _, vs in pairs]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)] or [{}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--features", default="fingerprint", choices=["fingerprint", "learned", "learned+fingerprint"],
                    help="learned+fingerprint: the learned features next to the handcrafted ones "
                         "(both standardised per dimension downstream)")
    ap.add_argument("--fingerprint", default=None, help="learned: a trained learned-fingerprint folder "
                    "(synthtrace fingerprint train) instead of training one here")
    ap.add_argument("--epochs", type=int, default=80, help="learned: training epochs")
    ap.add_argument("--augment", type=float, default=0.5,
                    help="learned: share of training images given the build's platform post-processing (resize/blur)")
    ap.add_argument("--pixels", action="store_true", help="learned: train on pixels, not the noise residual")
    ap.add_argument("--crop", type=int, default=64, help="learned: grid-aligned training crop size")
    ap.add_argument("--members", type=int, default=1, help="learned: seeded networks, features side by side")
    ap.add_argument("--normalize", default="wccn", choices=["wccn", "none"], help="learned: feature normalisation")
    ap.add_argument("--fp-cache", default=None, help="learned+fingerprint: npz cache of the fingerprint part")
    ap.add_argument("--fp-pca", type=int, default=None,
                    help="learned+fingerprint: reduce the fingerprint part to this many principal components (fitted "
                         "on the train split) so its 1494 dimensions do not outweigh the learned ones once standardised")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1,
                    help="discovery seeds seed..seed+N-1: val scores are averaged over them, the test half is "
                         "reported for each and as a mean (runs vary a lot with the seed on 500 images)")
    ap.add_argument("--grid", default="cluster_space=input,embedding;percentile=0.5,0.9;n_clusters=30;min_cluster_size=10,20",
                    help="discovery settings tried on the val half: name=v1,v2;name=...")
    ap.add_argument("--cache", default=None, help="npz file to reuse features from / store them in")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    ap.add_argument("--split-postprocessed", action="store_true",
                    help="also report test numbers separately for fakes the build post-processed (resize/blur) "
                         "and untouched ones (re-renders the test scenes to find out; ~30 s)")
    ap.add_argument("--report-half", default="test", choices=["test", "val"],
                    help="the half reported; val: a fixed setting (a grid of one) checked on the half settings are "
                         "chosen on, before it is compared on the test half")
    ap.add_argument("--no-discovery", action="store_true", help="stop after the attribution numbers")
    ap.add_argument("--export-manifests", default=None,
                    help="write known.csv (the train-split fakes of seen sources) and val_half.csv / test_half.csv "
                         "(with their true source) into this folder, to run `synthtrace discover` on the same sets")
    ap.add_argument("--consensus", type=int, default=1,
                    help="runs of the loop per reported run, joined by synthtrace.discovery.consensus (1: one run)")
    ap.add_argument("--self-train", action="store_true",
                    help="learned (--fingerprint DIR): then one self-training round per half and seed "
                         "(synthtrace.discovery.selftrain) and the grid and report again on the fine-tuned features; "
                         "~5 min per half and seed on 2 threads, cached next to --cache")
    ap.add_argument("--self-train-epochs", type=int, default=30)
    ap.add_argument("--self-train-share", type=float, default=0.5,
                    help="share of each cluster, nearest its mean, that the fingerprint is fine-tuned on")
    ap.add_argument("--self-train-augment", type=float, default=None,
                    help="share of fine-tuning draws given processing augmentation (default: the fingerprint's own)")
    ap.add_argument("--self-train-core", default="centre", choices=["centre", "stable"],
                    help="pseudo-labelled core: centre (--self-train-share of each cluster nearest its mean) or "
                         "stable (members that keep their cluster-mates when the loop re-runs with 4 other seeds)")
    ap.add_argument("--self-train-grid", default=None,
                    help="the settings tried on the val half after self-training (default: --grid)")
    args = ap.parse_args()
    if args.self_train and not (args.features == "learned" and args.fingerprint):
        ap.error("--self-train fine-tunes a trained fingerprint: use it with --features learned --fingerprint DIR")

    from sklearn.cluster import KMeans

    from synthtrace.discovery.consensus import ConsensusDiscovery, consensus_labels
    from synthtrace.discovery.openworld import OpenWorldDiscovery
    from synthtrace.metrics.clustering import clustering_metrics, confusion_matrix, ood_metrics, top_k_accuracy
    from synthtrace.heads.attribution import AttributionHead
    from synthtrace.io.manifest import read_manifest

    m = read_manifest(f"{args.bench}/manifest.csv")
    fakes = [r for r in m if r.label == "fake" and not r.mask_path and not r.source.startswith("splice:")]
    split = np.array([r.split for r in fakes])
    source = np.array([r.source for r in fakes])
    seen = sorted(set(source[split == "train"]))
    print(f"built-in benchmark {args.bench}: {len(fakes)} fake images, {len(seen)} seen sources {seen}")
    t0 = time.perf_counter()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    def cached(path, kind, compute):
        if path:
            try:
                z = np.load(path)
                if z["n"] == len(fakes) and str(z["kind"]) == kind:
                    return z["X"]
            except OSError:
                pass
        X = compute()
        if path:
            np.savez(path, X=X, n=len(fakes), kind=kind)
        return X

    def fp():
        from synthtrace.features.fingerprint import fingerprint_files

        return fingerprint_files([m.path_of(r) for r in fakes])

    decoded: list = []

    def images() -> list:
        """The fakes' pixels, decoded once and only when a step needs them (cached features do not)."""
        if not decoded:
            from synthtrace.io.images import load_images

            decoded.extend(im.rgb for im in load_images([m.path_of(r) for r in fakes]))
        return decoded

    def learned():
        return learned_features(images(), source, split, seen, args)

    # a retrained folder must not be served the old folder's cached features
    learned_kind = (f"learned:{args.fingerprint}:{Path(args.fingerprint, 'learned_fingerprint.safetensors').stat().st_mtime_ns}"
                    if args.fingerprint else
                    f"learned:epochs={args.epochs}:augment={args.augment}:pixels={args.pixels}:crop={args.crop}"
                    f":seed={args.seed}:members={args.members}:normalize={args.normalize}")
    if args.features == "fingerprint":
        feats = cached(args.cache, "fingerprint", fp)
    elif args.features == "learned":
        feats = cached(args.cache, learned_kind, learned)
    else:
        F_fp = cached(args.fp_cache, "fingerprint", fp)
        if args.fp_pca:
            from sklearn.decomposition import PCA

            tr_ = split == "train"
            mu, sd = F_fp[tr_].mean(0), F_fp[tr_].std(0) + 1e-12
            F_fp = PCA(args.fp_pca, random_state=args.seed).fit((F_fp[tr_] - mu) / sd).transform((F_fp - mu) / sd)
        feats = np.hstack([cached(args.cache, learned_kind, learned), F_fp])
    print(f"{args.features} features {feats.shape} in {time.perf_counter() - t0:.1f} s")

    res: dict = {"bench": args.bench, "features": args.features,
                 "learned": learned_kind if "learned" in args.features else None}
    # 2. attribution
    is_seen = np.isin(source, seen)
    trm, vam, tem = split == "train", (split == "val") & is_seen, split == "test"
    heads = {}
    for score in ("wta", "msp", "energy"):
        head = heads[score] = AttributionHead(unknown_score=score, random_state=args.seed).fit(feats[trm], source[trm])
        head.calibrate(feats[vam], source[vam])
        r = ood_metrics(~is_seen[tem], head.unknown_scores(feats[tem]))
        unk = head.is_unknown(feats[tem])
        r["known_kept_test"] = float(np.mean(~unk[is_seen[tem]]))
        r["unknown_rejected_test"] = float(np.mean(unk[~is_seen[tem]]))
        res[f"unknown_{score}"] = r
        print(f"unknown-vs-known ({score}): AUROC {r['auroc']:.3f}, FPR@95%TPR {r['fpr_at_95_tpr']:.3f}; "
              f"val-calibrated threshold keeps {r['known_kept_test']:.1%} of known, "
              f"rejects {r['unknown_rejected_test']:.1%} of unknown (test)")
    ks = tem & is_seen
    P = head.predict_proba(feats[ks])
    res["top1"] = top_k_accuracy(source[ks], P, 1, classes=head.classes_)
    res["top3"] = top_k_accuracy(source[ks], P, 3, classes=head.classes_)
    cm, lab = confusion_matrix(source[ks], head.predict(feats[ks], closed_set=True), labels=list(head.classes_))
    print(f"closed-set attribution on seen sources (test, n={ks.sum()}): top-1 {res['top1']:.3f}, top-3 {res['top3']:.3f}")
    print("confusion (rows true, cols predicted):", lab)
    print(cm)
    pp = None
    if args.split_postprocessed:
        pp = postprocessed_fakes(args.bench, fakes)
        res["postprocessed_share_test"] = float(pp[tem].mean())
        for name, sub in (("untouched", ~pp), ("postprocessed", pp)):
            r = {"n_seen_test": int((ks & sub).sum()), "n_test": int((tem & sub).sum())}
            r["top1"] = top_k_accuracy(source[ks & sub], head.predict_proba(feats[ks & sub]), 1, classes=head.classes_)
            for score, h in heads.items():
                r[f"auroc_{score}"] = ood_metrics(~is_seen[tem & sub], h.unknown_scores(feats[tem & sub]))["auroc"]
            res[f"attribution_{name}"] = r
            print(f"test fakes {name} by the build's platform post-processing ({r['n_test']} images, "
                  f"{r['n_seen_test']} of seen sources): top-1 {r['top1']:.3f}, unknown AUROC wta "
                  f"{r['auroc_wta']:.3f} / msp {r['auroc_msp']:.3f} / energy {r['auroc_energy']:.3f}")

    if args.no_discovery:
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(res, fh, indent=1, default=str)
        return
    # 3. discovery: val half chooses the settings, test half is reported
    scene = np.array([r.scene_id or r.path for r in fakes])
    half = np.array([zlib.crc32(s.encode()) % 2 for s in scene])
    halves = (tem & (half == 0), tem & (half == 1))
    held_out = sorted(set(source[tem]) - set(seen))
    report_half = 0 if args.report_half == "val" else 1
    if args.export_manifests:
        out_dir = Path(args.export_manifests)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, rows in (("known", trm), ("val_half", halves[0]), ("test_half", halves[1])):
            with open(out_dir / f"{name}.csv", "w") as fh:
                fh.write("path,label,source\n" + "".join(f"{m.path_of(r)},fake,{r.source}\n"
                                                         for r, keep in zip(fakes, rows) if keep))
        print(f"wrote {out_dir}/known.csv, val_half.csv, test_half.csv")
    base_params = dict(n_iterations=args.iterations, epochs_first=30, epochs_later=30, n_hashes=2048)
    seeds = list(range(args.seed, args.seed + max(1, args.seeds)))

    def run(X: np.ndarray, disc: np.ndarray, seed: int, **params):
        t = time.perf_counter()
        d = OpenWorldDiscovery(**{**base_params, **params, "random_state": seed})
        if args.consensus > 1:
            d = ConsensusDiscovery(d, runs=args.consensus)
        d = d.fit(X[trm], source[trm], X[disc], eval_labels=source[disc])
        mm = clustering_metrics(source[disc], d.labels_, d.features_)
        found = [s for s in held_out if s in set(source[disc]) and s not in mm["sources_missing"]]
        return d, mm, found, time.perf_counter() - t

    def choose(features_for, grid: str) -> dict:
        """The grid on the val half; ``features_for(half, seed)`` gives the features of a run."""
        best = None
        combos = parse_grid(grid)
        if len(combos) == 1:  # nothing to choose: no val runs (nor self-training on the val half)
            return combos[0]
        for params in combos:
            runs = [run(features_for(0, sd), halves[0], sd, **params) for sd in seeds]
            pur, nmi = np.mean([r[1]["purity"] for r in runs]), np.mean([r[1]["nmi"] for r in runs])
            n_found = min(len(r[2]) for r in runs)
            print(f"val half {params}: purity {pur:.3f} NMI {nmi:.3f} clusters {[r[1]['n_clusters'] for r in runs]} "
                  f"held-out found {n_found}/{len(held_out)} (worst seed; mean of {len(seeds)} seeds, "
                  f"{sum(r[3] for r in runs):.0f} s)", flush=True)
            sc = (n_found, pur + nmi)  # every held-out source found first, then purity + NMI
            if best is None or sc > best[0]:
                best = (sc, params)
        return best[1]

    def report(params: dict, features_for, key: str) -> None:
        """The test half with ``params``, per seed and as a mean, beside k-means at the same k."""
        disc = halves[report_half]
        print(f"{args.report_half} half ({disc.sum()} images, settings {params}"
              + (" chosen on the val half)" if report_half else ")"))
        per_seed = []
        for sd in seeds:
            X = features_for(report_half, sd)
            d_s, ow_s, found_s, sec_s = run(X, disc, sd, **params)
            k_s = ow_s["n_clusters"]
            Z = (X[disc] - X[disc].mean(0)) / (X[disc].std(0) + 1e-12)
            km_s = KMeans(n_clusters=k_s, n_init=10, random_state=sd).fit_predict(Z)
            per_seed.append((d_s, ow_s, found_s, sec_s, k_s, km_s, clustering_metrics(source[disc], km_s)))
            if args.consensus > 1:  # what joining adds to one run, and the loop beyond joined k-means runs
                km_runs = [KMeans(n_clusters=k_s, n_init=10, random_state=1000 * sd + r).fit_predict(Z)
                           for r in range(args.consensus)]
                per_seed[-1][6]["consensus_of_kmeans"] = clustering_metrics(
                    source[disc], consensus_labels(km_runs, n_clusters=k_s))
                ow_s["first_run"] = clustering_metrics(source[disc], d_s.runs_[0])
        d, ow, found, sec, k, km, base = per_seed[0]
        res[key] = {"discovery_params": params, "openworld": ow, "kmeans": base, "history": d.history_,
                    "held_out": held_out, "n_discovery_test": int(disc.sum()), "discovery_seconds": sec,
                    "seeds": seeds, "openworld_per_seed": [r[1] for r in per_seed],
                    "kmeans_per_seed": [r[6] for r in per_seed]}
        print(f"seed {seeds[0]}: {sec:.0f} s")
        for it in d.history_:
            print("  iteration", json.dumps({k: it.get(k) for k in ("iteration", "n_ood_accepted", "n_new_clusters",
                                                                      "share_clustered", "purity", "nmi",
                                                                      "sources_discovered")}))

        def line(name, mm):
            miss = [s for s in mm["sources_missing"] if s in held_out]
            print(f"{name:20s} purity {mm['purity']:.3f} (unweighted {mm['purity_unweighted']:.3f}) NMI {mm['nmi']:.3f} "
                  f"ARI {mm['ari']:.3f} clustered {mm['share_clustered']:.1%} sources {mm['sources_discovered']}/"
                  f"{mm['n_sources']}, held-out found {len(held_out) - len(miss)}/{len(held_out)} missing {miss}")

        for sd, r in zip(seeds, per_seed):
            line(f"open-world seed {sd}", r[1])
            line(f"k-means k={r[4]} seed {sd}", r[6])
            if "consensus_of_kmeans" in r[6]:
                line(f"{args.consensus} k-means joined", r[6]["consensus_of_kmeans"])
                line("first run alone", r[1]["first_run"])
        if len(seeds) > 1:
            keys = ("purity", "purity_unweighted", "nmi", "ari", "share_clustered")
            if args.consensus > 1:
                kc = [r[6]["consensus_of_kmeans"] for r in per_seed]
                fr = [r[1]["first_run"] for r in per_seed]
                print(f"consensus of {args.consensus} k-means runs at the same k, mean of {len(seeds)} seeds: purity "
                      f"{np.mean([c['purity'] for c in kc]):.3f} NMI {np.mean([c['nmi'] for c in kc]):.3f}; the first "
                      f"run of each consensus alone: purity {np.mean([c['purity'] for c in fr]):.3f} "
                      f"NMI {np.mean([c['nmi'] for c in fr]):.3f}")
            for name, col in (("open-world", 1), ("k-means", 6)):
                mean = {k_: float(np.mean([r[col][k_] for r in per_seed])) for k_ in keys}
                sd_ = {k_: float(np.std([r[col][k_] for r in per_seed])) for k_ in keys}
                res[key][f"{'openworld' if col == 1 else 'kmeans'}_mean"] = mean
                print(f"{name:11s} mean of {len(seeds)} seeds: "
                      + ", ".join(f"{k_} {mean[k_]:.3f}±{sd_[k_]:.3f}" for k_ in keys)
                      + f"; held-out found per seed {[len(held_out) - len([s for s in r[col]['sources_missing'] if s in held_out]) for r in per_seed]}")
        if pp is not None:  # the same runs, scored on each part (unclustered samples first go to the nearest cluster)
            from synthtrace.metrics.clustering import assign_unclustered

            for name, sub in (("untouched", ~pp[disc]), ("postprocessed", pp[disc])):
                for sd, r in zip(seeds, per_seed):
                    full = assign_unclustered(r[0].features_, r[0].labels_)
                    for kind, lab in (("open-world", full), (f"k-means k={r[4]}", r[5])):
                        mm = clustering_metrics(source[disc][sub], lab[sub])
                        res[key].setdefault(f"{'openworld' if kind == 'open-world' else 'kmeans'}_{name}", []).append(mm)
                        miss = [s for s in mm["sources_missing"] if s in held_out]
                        print(f"  {name:13s} ({sub.sum()}) seed {sd} {kind:12s} purity {mm['purity']:.3f} (unweighted "
                              f"{mm['purity_unweighted']:.3f}) NMI {mm['nmi']:.3f} ARI {mm['ari']:.3f} held-out found "
                              f"{len(held_out) - len(miss)}/{len(held_out)}")

    params = choose(lambda h, sd: feats, args.grid)
    report(params, lambda h, sd: feats, "discovery")
    if args.self_train:
        # self-training (synthtrace.discovery.selftrain), per half and seed: the round-0 run with
        # the settings above, the fingerprint fine-tuned on its clusters' cores, then the grid again
        from synthtrace.discovery.selftrain import self_train, stable_core
        from synthtrace.heads.learned_fingerprint import LearnedFingerprint
        fp0 = LearnedFingerprint.from_pretrained(args.fingerprint)
        adapted: dict[tuple[int, int], np.ndarray] = {}

        def features_for(h: int, sd: int) -> np.ndarray:
            if (h, sd) not in adapted:
                tag = zlib.crc32(json.dumps(params, sort_keys=True).encode())  # the round-0 run it adapts to
                variant = ("" if args.self_train_share == 0.5 else f"-core{args.self_train_share:g}") + (
                    "" if args.self_train_augment is None else f"-aug{args.self_train_augment:g}") + (
                    "" if args.self_train_core == "centre" else f"-{args.self_train_core}")
                path = (Path(f"{args.cache}.selftrain{args.self_train_epochs}{variant}-{tag:08x}-h{h}-s{sd}.npy")
                        if args.cache else None)
                if path is not None and path.is_file():
                    adapted[h, sd] = np.load(path)
                else:
                    disc = np.flatnonzero(halves[h])
                    d0 = run(feats, halves[h], sd, **params)[0]
                    t = time.perf_counter()
                    core = (stable_core(d0, feats[trm], source[trm], feats[disc])
                            if args.self_train_core == "stable" else None)
                    imgs = images()
                    fp1, core = self_train(fp0, [imgs[i] for i in np.flatnonzero(trm)], source[trm],
                                           [imgs[i] for i in disc], d0, feats[disc], share=args.self_train_share,
                                           epochs=args.self_train_epochs, augment=args.self_train_augment,
                                           core=core, progress=False)
                    adapted[h, sd] = fp1.transform(imgs).astype(np.float64)
                    print(f"self-training, {'val' if h == 0 else 'test'} half, seed {sd}: {int(core.sum())} core images "
                          f"(purity {clustering_metrics(source[disc][core], d0.labels_[core])['purity']:.3f}), "
                          f"{time.perf_counter() - t:.0f} s", flush=True)
                    if path is not None:
                        np.save(path, adapted[h, sd])
            return adapted[h, sd]

        print(f"self-training round (fingerprint fine-tuned {args.self_train_epochs} epochs on each run's clusters)")
        report(choose(features_for, args.self_train_grid or args.grid), features_for, "self_trained")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
