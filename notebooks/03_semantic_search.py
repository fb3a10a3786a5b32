# %% [markdown]
# # 03 · Semantic prompt search with sentence embeddings
#
# The recsys app answers free-text prompts with **all-mpnet-base-v2** sentence embeddings. This
# notebook measures that choice against a smaller model and against the TF-IDF baseline of
# notebook 02, on the same movies, the same index texts and the same tag benchmark:
#
# - **all-mpnet-base-v2** (the app's model, 768 dimensions) and **all-MiniLM-L6-v2**
#   (384 dimensions, about 5× fewer parameters), both run offline from their installed copies
#   (`recutils.embeddings.resolve_model`); the movie embeddings are computed once and cached
#   on disk (`cached_encode`, keyed by model, text builder and a hash of the texts);
# - **dense search** (`recutils.search.DenseSearch`): cosine similarity of L2-normalised
#   embeddings, top-k with `argpartition` rather than a full sort;
# - **reciprocal-rank fusion** of TF-IDF with each model (`FusionSearch`): a movie's score is
#   `Σ 1 / (60 + rank)` over the methods that rank it in their top 100;
# - the **tag benchmark** (queries = tags on ≥ 3 movies, relevant = the movies carrying them,
#   index texts without tags): nDCG@10 and Recall@10, with paired bootstrap intervals;
# - **query latency** (prompt in, top 10 out, encoding included) per model, with 1 and 2
#   threads, and where the time goes;
# - the **encoder backend** (`backend`): sentence-transformers in torch fp32, or the same model
#   exported to ONNX and run by ONNX Runtime with int8 weights (`recutils.embeddings.onnx`),
#   which embeds faster on the CPU but not identically — used for a model only where the
#   **quality guard** of section 2 cannot tell it from fp32 on the tag benchmark.

# %% tags=["parameters"]
output_dir = "reports/03_semantic_search"
data_dir = None
seed = 42
k = 10
n_movies = 0  # 0: every movie; n > 0: the n most-tagged movies (smoke runs)
min_tag_movies = 3
max_queries = 0  # 0: every qualifying tag
models = ["sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"]
batch_size = 64
progress = True  # progress bars while embedding the movies (off in smoke runs)
rrf_c = 60.0
rrf_depth = 100
n_bootstrap = 2000
prompts = [
    "a space adventure with robots",
    "romantic comedy in paris",
    "serial killer detective thriller",
    "animated movie about toys that come to life",
    "heist with a twist ending",
    "a feel-good movie for a rainy sunday",
]
n_latency_prompts = 200
n_breakdown_prompts = 50
latency_threads = [1, 2]  # torch threads per query (DenseConfig.query_threads)
backend = "torch"  # "torch" (fp32), "onnx-int8" (per model, only where the guard passes; else torch) or "onnx-fp32"
guard_movies = 300  # the int8 guard compares fp32 and int8 on the N most-tagged movies (0: every movie)

# %%
import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from recutils.datasets import load_tags, movie_table
from recutils.embeddings import check_backend, model_label
from recutils.experiments import Record
from recutils.bench.search_latency import latency_breakdown, latency_prompts, measure_latency
from recutils.experiments.studies.semantic_search import (
    embed_movies,
    int8_guard,
    methods_config,
    prompt_search,
    run_benchmark,
)
from recutils.search import SEARCH_TEXT, TfidfSearch, corpus_texts, most_tagged, tag_benchmark

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 60)
rec = Record(out, k=k, default_metric="ndcg", params={
    "seed": seed, "k": k, "n_movies": n_movies, "min_tag_movies": min_tag_movies, "max_queries": max_queries,
    "n_latency_prompts": n_latency_prompts, "n_breakdown_prompts": n_breakdown_prompts,
    "latency_threads": latency_threads, "backend": backend, "guard_movies": guard_movies})
rec["k"] = k


# %% [markdown]
# ## 1. Movies, index texts and the benchmark
#
# Exactly as in notebook 02: title, genres and TMDB overview (`SEARCH_TEXT`, no tags).

# %%
movies = most_tagged(movie_table(data_dir), n_movies)
texts = corpus_texts(movies, SEARCH_TEXT)
tags = load_tags(data_dir)
bench = tag_benchmark(tags, movies["movieId"], min_movies=min_tag_movies, max_queries=max_queries or None)
check_backend(backend)
rec["n_movies"] = len(movies)
rec["benchmark"] = bench.summary()

# %%
# NBVAL_CHECK_OUTPUT
print("movies indexed:", len(movies), "| text builder:", SEARCH_TEXT.key)
print("benchmark:", bench.summary())

# %% [markdown]
# ## 2. Int8 encoding: quality guard
#
# Embedding ~9.7k movie texts in torch fp32 is the slowest step of a cold run. The ONNX export
# with int8 weights (`backend="onnx-int8"`; dynamic quantisation, see `recutils.embeddings.onnx`
# for the recipe: 7-bit per-channel weights, layers with outlier inputs kept in fp32) is faster
# on the CPU, but its embeddings differ from fp32 — by how much, and does it matter for search?
#
# For each model, on the `guard_movies` most-tagged movies and the tag benchmark restricted to
# them: the cosine of each movie's int8 embedding to its fp32 one (mean, 1st percentile, min),
# nDCG@10 / Recall@10 of dense search with each (prompts encoded by the same backend), the
# paired bootstrap interval of the per-query nDCG@10 difference int8 − fp32, and the texts/s of
# each encode (from the cache entries' records: measured when each was computed, one after the
# other in one process; the export itself is not counted). **Rule:** a run that asks for
# `onnx-int8` uses it for a model only if that interval includes zero; otherwise it uses
# torch fp32 for that model and says so. Both encodings are cached, so a rerun costs nothing.
#
# A guard on a few hundred movies has less power than the whole benchmark: run once on all
# 9,742 movies (324 queries), all-MiniLM-L6-v2's int8 embeddings had cosine 0.991 to fp32 on
# average (min 0.971) and lost 0.003 nDCG@10 (0.059 → 0.056), with an interval of
# [−0.006, +0.000] that only just includes zero. Int8 is close, not free.
#
# `int8_guard` (`recutils.experiments.studies.semantic_search`) runs the guard for every model:
# it loads both encoders, embeds the guard movies with each, evaluates both on the guard's
# benchmark and chooses each model's backend by the rule above.

# %%
guard = int8_guard(models, movies, tags, guard_movies=guard_movies, min_tag_movies=min_tag_movies,
                   max_queries=max_queries or None, k=k, batch_size=batch_size, progress=progress,
                   n_bootstrap=n_bootstrap, seed=seed, backend=backend)
guard_set, guard_bench, chosen = guard.guard_set, guard.bench, guard.chosen
rec.table(f"Int8 quality guard: fp32 vs onnx-int8 on the {len(guard_set)} most-tagged movies", guard.rows)
rec["backends"] = guard.backends()

# %%
# NBVAL_CHECK_OUTPUT
print(f"guard: the {len(guard_set)} most-tagged movies, {guard_bench.n_queries} benchmark queries")
for name in models:
    print(f"{model_label(name)}: backend {chosen[name]!r} (asked for {backend!r})")

# %%
print(guard.table().drop(columns=["requested"]).round(4).to_string(index=False))
for r in guard.rows:
    verdict = "includes zero: int8 cannot be told from fp32" if r["int8_passes"] else "excludes zero: int8 changes the results"
    use = (f"→ {r['backend']} is used for {r['model']}" + ("" if r["backend"] == backend else f" instead of {backend}")
           if backend == "onnx-int8" else f"(backend {backend!r} was asked for: the guard only reports)")
    print(f"{r['model']}: nDCG@{k} int8 − fp32 {r[f'ndcg@{k}_diff']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] "
          f"{verdict} {use}")

# %% [markdown]
# ## 3. Embedding the movies
#
# `resolve_model` maps each hub name to its offline copy (the MiniLM package's folder; the
# mpnet zip parts are joined and extracted once into the cache). The first run embeds every
# movie text with the backend chosen above; later runs read the cached `.npy` (one per model
# and backend) without running the model for it.

# %%
dense = embed_movies(movies, guard, batch_size=batch_size, progress=progress)
tfidf = TfidfSearch(texts, movies["movieId"], movies["title"])

# %%
# NBVAL_CHECK_OUTPUT
for label, s in dense.items():
    e = s.doc_embeddings
    print(f"{label}: {e.shape[0]} × {e.shape[1]}, float32, unit norm: {bool(np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4))}")

# %% [markdown]
# ## 4. Prompt search, side by side
#
# The top 5 for each prompt. TF-IDF needs a word in common with a movie's text; embeddings
# compare meanings, so paraphrases can match — but they are pulled by surface words too
# (a title containing "Robot" or "Rain"), and a vague mood ("feel-good") is hard for both.

# %%
# NBVAL_CHECK_OUTPUT
methods = {"TF-IDF": tfidf, **dense}
prompt_results, prompt_tables = prompt_search(methods, prompts, k=5)
rec["prompts"] = prompt_results
for p, top in prompt_tables.items():
    print(f"\n> {p}")
    print(top.to_string(index=False))

# %% [markdown]
# ## 5. The tag benchmark
#
# Each method scores all queries at once (one queries × movies matrix: a sparse product for
# TF-IDF, one batch encode and a matrix product for the embeddings); fusion combines those
# same matrices by rank. Top 10 by `argpartition`; nDCG@10 and Recall@10 averaged over queries.

# %%
run = run_benchmark(tfidf, dense, bench, k=k, rrf_c=rrf_c, rrf_depth=rrf_depth)
per_query, fusions, table = run.per_query, run.fusions, run.table()
rec["table"] = table
rec[f"per_query_ndcg@{k}"] = run.per_query_values("ndcg")
rec.produced_by_all({"TF-IDF": tfidf, **dense, **fusions}, n_users=bench.n_queries)
for label, sec in run.seconds.items():
    print(f"{label:>36}: {bench.n_queries} queries scored in {sec * 1e3:.0f} ms")

# %%
print(table.round(4).to_string(index=False))

# %% [markdown]
# Are the differences to TF-IDF more than noise? Paired bootstrap over queries
# (`n_bootstrap` resamples) of the per-query nDCG@10 difference.

# %%
cis = run.paired("TF-IDF", "ndcg", n_boot=n_bootstrap, seed=seed)
rec["paired_ci_ndcg_vs_tfidf"] = {label: dataclasses.asdict(c) for label, c in cis.items()}
for label, c in cis.items():
    print(f"{label:>36} − TF-IDF: {c.mean_diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"
          f"{'  *' if c.significant else ''}")

# %% [markdown]
# Where do they differ? The queries with the largest nDCG@10 gap between the best dense model
# and TF-IDF, each way.

# %%
best_dense, gap = run.gaps(list(dense), "TF-IDF", "ndcg")
print(f"{best_dense} better on {int((gap['diff'] > 0).sum())} queries, TF-IDF on {int((gap['diff'] < 0).sum())}, "
      f"tied on {int((gap['diff'] == 0).sum())}")
print(gap[gap["diff"] > 0].sort_values(["diff", "query"], ascending=[False, True]).head(6).round(3).to_string(index=False))
print(gap[gap["diff"] < 0].sort_values(["diff", "query"], ascending=[True, True]).head(6).round(3).to_string(index=False))

# %%
bars = run.mean_cis(("ndcg", "recall"), n_boot=n_bootstrap, seed=seed)
fig, ax = plt.subplots(figsize=(9, 4))
x = np.arange(len(table))
for off, metric, lab in ((-0.2, f"ndcg@{k}", f"nDCG@{k}"), (0.2, f"recall@{k}", f"Recall@{k}")):
    ci_ = bars[metric]
    ax.bar(x + off, ci_[:, 0], width=0.4, yerr=[ci_[:, 0] - ci_[:, 1], ci_[:, 2] - ci_[:, 0]], capsize=2, label=lab)
ax.set_xticks(x, [m.replace("RRF(", "RRF(\n") for m in table["method"]], fontsize=8)
ax.set_ylabel("mean over queries (95 % bootstrap interval)")
ax.set_title(f"Tag benchmark: {bench.n_queries} queries, {len(movies)} movies (texts without tags)")
ax.legend()
fig.tight_layout()
fig.savefig(out / "benchmark.png", dpi=110)
plt.show()

# %% [markdown]
# **What the full run shows** (all movies, every tag on ≥ 3 movies; `make reproduce`): neither
# embedding model alone is clearly better than TF-IDF on this benchmark — all-MiniLM-L6-v2
# lands a little above it and the app's all-mpnet-base-v2 a little below, both with intervals
# that include zero — while fusing TF-IDF with either model beats TF-IDF with an interval
# that excludes zero: the two kinds of evidence find different movies. Most queries are ties,
# nearly all at zero: tags about taste or context ("atmospheric", "in netflix queue") are
# beyond any text-only method, which is why the absolute numbers are low. The larger model
# does not pay for its cost here (section 6: it is several times slower per query). Each
# model's rows come from the backend chosen for it in section 2 (`backends` in metrics.json).

# %% [markdown]
# ## 6. Query latency
#
# What a user waits for: one prompt in, top 10 out, the prompt's encoding included (model
# already loaded). Prompts are the demo prompts and the benchmark's tags, cycled to
# `n_latency_prompts`; after 3 warm-up calls each is timed once. Each model is timed with 1 and
# 2 torch threads for the query (`DenseConfig.query_threads`; the default is 1), with the
# backend chosen in section 2 (an ONNX Runtime encoder uses the same thread count).
#
# Why 1 by default: a single short prompt is a tiny batch, and every operator of the
# transformer ends at a barrier where all threads meet. On an idle machine a second thread
# gains little; on a busy one (this project's shared 2-core machine) a thread that the OS has
# descheduled makes every barrier wait a scheduler time slice, and the query becomes many
# times slower. The load average is printed with the timings: compare rows of the same run,
# not numbers from different machines. Timings are not checked by the notebook tests.

# %%
prompts_timed = latency_prompts(prompts, bench.queries, n_latency_prompts)
lat = measure_latency(tfidf, dense, prompts_timed, k=k, threads=latency_threads)
rec.table("Prompt-search latency, ms per query (encoding included; machine-dependent)", lat.table)
rec["latency_load_average"] = lat.load_average()
print(f"load average (1, 5, 15 min) before: {lat.load_before}, after: {lat.load_after}; cores: {lat.load_average()['cpus']}")
print(lat.table.to_string(index=False))

# %% [markdown]
# Where the time of one dense query goes (median ms over the first `n_breakdown_prompts`
# prompts): tokenising, the transformer's forward pass, and the cosine + `argpartition` over
# every movie; `encode_call` is the same forward pass through `SentenceTransformer.encode`,
# i.e. plus its per-call overhead.

# %%
breakdown = latency_breakdown(lat.variants, prompts_timed[:n_breakdown_prompts], k=k)
rec["latency_breakdown_ms"] = breakdown
print(breakdown.to_string(index=False))

# %% [markdown]
# ## 7. Save metrics and configuration
#
# Every result went into the one record (`rec`) as it was made; the provenance (which producer
# made each row: the regression test's tolerances follow from it) was named with the benchmark.
# `config.json` holds the parameters, the text builder and each method's configuration.

# %%
rec.configure(text_builder={**dataclasses.asdict(SEARCH_TEXT), "key": SEARCH_TEXT.key},
              methods=methods_config(tfidf, dense, fusions))
rec.write()
print("wrote", sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".png")))
