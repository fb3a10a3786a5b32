# %% [markdown]
# # 01 · Item-based collaborative filtering
#
# The recsys app's first notebook ("1. ItemBased") builds a users × titles pivot table, asks
# pandas for `corrwith` / `corr(min_periods=…)` and keeps only movies with TMDB
# `vote_count > 150`. Here the same idea is rebuilt properly:
#
# - **similar movies** for one movie with two similarities computed by sparse matrix products
#   (`recutils.models.item_cf.item_similarity`): cosine on the rating columns and Pearson on the
#   co-raters (each item centred on the users who rated both), both shrunk by their support,
#   `sim · n_co / (n_co + shrinkage)`, instead of an arbitrary popularity cut;
# - **recommendations for a user** from all the movies they rated, as a recommender
#   (`ItemCF`, registered as `itemcf`), scored
#   `Σ_j sim(i, j) · (r_uj − centre) [/ Σ_j |sim(i, j)|]`;
# - **evaluation** on the hybrid-study protocol beside MostPop, ItemKNN and EASE, every
#   hyper-parameter chosen on a validation carve-out of the training ratings (never on test).

# %% tags=["parameters"]
output_dir = "reports/01_item_cf"
data_dir = None
seed = 42
k = 25
n_users = 0  # 0: every user; n > 0: a seeded random sub-sample of n users (smoke runs)
example_movies = [1, 2571, 296, 260, 356]  # Toy Story, The Matrix, Pulp Fiction, Star Wars, Forrest Gump
example_user = 1
n_similar = 8
shrinkage = 10.0
min_support = 5
ease_lambdas = [50.0, 100.0, 200.0, 300.0, 500.0, 800.0]
itemcf_kinds = ["cosine", "pearson"]
itemcf_centres = ["user", 2.0, "none"]  # "user": each user's mean; a number: a constant (the app: 2)
itemcf_normalize = [True, False]

# %%
import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from recutils.datasets import load_movies, load_ratings
from recutils.evaluation import evaluate_ranking, paired_bootstrap_ci
from recutils.io import write_json
from recutils.models import create
from recutils.models.item_cf import ItemCF, similar_items
from recutils.similarity import item_similarity
from recutils.splits import sample_users, study_split
from recutils.experiments import grid_search

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. Data and protocol
#
# MovieLens ml-latest-small, split with the hybrid study's protocol (per user with ≥ 5
# ratings, 20 % of their ratings to test, `random_state=42`). A test rating ≥ 4 makes a movie
# relevant. Smoke runs keep a seeded random sub-sample of users.

# %%
ratings = load_ratings(data_dir)
movies = load_movies(data_dir)
ratings = sample_users(ratings, n_users, rng=seed)
split = study_split(ratings)
train = split.without_test()

# %%
# NBVAL_CHECK_OUTPUT
summary = split.summary()
for key in ("n_train", "n_test", "n_users", "n_items", "n_evaluable_users"):
    print(f"{key:>18}: {summary[key]}")

# %% [markdown]
# ## 2. Movies similar to one movie
#
# Both similarities use the training ratings only. `n_co` is the number of users who rated
# both movies. Without shrinkage a Pearson correlation computed on two or three co-raters is
# often ±1, and such pairs crowd the top of the list: the app hid them with a vote-count cut;
# shrinkage scales every similarity by how much evidence it rests on.

# %%
R = split.train_ratings
sims = {kind: item_similarity(R, kind, shrinkage=shrinkage, min_support=min_support) for kind in ("cosine", "pearson")}
raw_pearson = item_similarity(R, "pearson", shrinkage=0.0, min_support=2)
present = [m for m in example_movies if split.iidx(m)[0] >= 0]
title_of = movies.set_index("movieId")["title"]
print("examples in the training data:", [title_of[m] for m in present])


# %%
def side_by_side(movie_id: int) -> pd.DataFrame:
    """Top similar movies under each similarity, next to each other."""
    cols = {}
    for label, S in (("cosine", sims["cosine"]), ("pearson", sims["pearson"]), ("pearson, no shrinkage", raw_pearson)):
        t = similar_items(S, split, movie_id, k=n_similar, movies=movies)
        cols[(label, "title")] = t["title"].str.slice(0, 34).reset_index(drop=True)
        cols[(label, "sim")] = t["similarity"].round(3).reset_index(drop=True)
        cols[(label, "n_co")] = t["n_co"].reset_index(drop=True)
    return pd.DataFrame(cols)


for m in present:
    print(f"\n== {title_of[m]} ==")
    display(side_by_side(m))

# %%
# NBVAL_CHECK_OUTPUT
similar_tables = {}
for m in present:
    for kind in ("cosine", "pearson"):
        t = similar_items(sims[kind], split, m, k=3, movies=movies)
        similar_tables[f"{title_of[m]} ({kind})"] = [
            {"title": r.title, "similarity": float(r.similarity), "n_co": int(r.n_co)} for r in t.itertuples()
        ]  # similarities are recorded in metrics.json (checked with tolerances); the text shows titles
        top3 = "; ".join(f"{r['title'][:28]} ({r['n_co']})" for r in similar_tables[f"{title_of[m]} ({kind})"])
        print(f"{title_of[m][:30]:<30} {kind:<8} {top3}")

# %% [markdown]
# How similarity depends on support, for the first example movie: the raw Pearson
# correlations with few co-raters spread over [−1, 1]; shrinkage pulls them towards 0.

# %%
if present:
    j = split.iidx(present[0])[0]
    B = (R != 0).astype(float)
    n_co = np.asarray((B.T @ B[:, j]).todense()).ravel()
    raw = np.asarray(raw_pearson[:, j].todense()).ravel()
    shrunk = np.asarray(item_similarity(R, "pearson", shrinkage=shrinkage, min_support=2)[:, j].todense()).ravel()
    nz = raw != 0
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(n_co[nz], raw[nz], s=6, alpha=0.4, label="Pearson")
    ax.scatter(n_co[nz], shrunk[nz], s=6, alpha=0.4, label=f"Pearson · n/(n+{shrinkage:g})")
    ax.set_xscale("log")
    ax.set_xlabel("co-raters n_co (log)")
    ax.set_ylabel("similarity")
    ax.set_title(f"Similarity to {title_of[present[0]]} vs support")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "similarity_vs_support.png", dpi=110)
    plt.show()

# %% [markdown]
# ## 3. Recommendations for one user
#
# `ItemCF` aggregates, for every candidate movie, the user's centred ratings of similar movies.
# The weighted *average* (divided by `Σ|sim|`) estimates a rating: a movie whose only similar
# movie among the user's is one they loved scores as high as it can, however weak that single
# similarity is (shrinkage cancels out in the ratio), so obscure movies reach the top. The
# weighted *sum* keeps the evidence: it rewards movies similar to many of the user's favourites.
# Section 4 chooses between them on validation.

# %%
user = example_user if split.uidx(example_user)[0] >= 0 else int(split.users[0])
rated = split.train[split.train["userId"] == user].sort_values("rating", ascending=False)
print(f"user {user}: {len(rated)} training ratings; favourites:")
display(rated.head(8).assign(title=lambda d: d["movieId"].map(title_of))[["movieId", "title", "rating"]])
for normalize in (True, False):
    m = ItemCF(kind="pearson", shrinkage=shrinkage, min_support=min_support, centre="user", normalize=normalize).fit(train)
    rec = m.recommend(user, k=8).assign(title=lambda d: d["movieId"].map(title_of))
    print("weighted average" if normalize else "weighted sum")
    display(rec[["rank", "movieId", "title", "score"]])

# %% [markdown]
# ## 4. Evaluation on the hybrid-study protocol
#
# Hyper-parameters are chosen on `validation_split(split)` (a carve-out of the training
# ratings with the same procedure and another seed) by NDCG@k: EASE's λ, and for ItemCF the
# centre and weighted average vs sum, per similarity kind. The chosen configurations are
# then refitted on the full training part and scored once on test.

# %%
ease_best, ease_rows = grid_search("ease", split, {"lambda_": ease_lambdas}, k=k)
fixed = {"shrinkage": shrinkage, "min_support": min_support}
itemcf_best, itemcf_rows = {}, []
for kind in itemcf_kinds:
    best, rows = grid_search("itemcf", split, {"centre": itemcf_centres, "normalize": itemcf_normalize}, k=k,
                             fixed={**fixed, "kind": kind})
    itemcf_best[kind] = {**fixed, "kind": kind, **best}
    itemcf_rows += rows
validation = pd.DataFrame(itemcf_rows)

# %%
# NBVAL_CHECK_OUTPUT
print("EASE lambda chosen on validation:", ease_best["lambda_"])
for kind, cfg in itemcf_best.items():
    print(f"ItemCF {kind} chosen on validation: centre={cfg['centre']} normalize={cfg['normalize']}")

# %%
print(validation[["kind", "centre", "normalize", "precision", "recall", "ndcg"]].round(4).to_string(index=False))

# %%
candidates = {
    "MostPop": create("mostpop"),
    "ItemKNN": create("itemknn"),
    f"EASE (λ={ease_best['lambda_']:g})": create("ease", **ease_best),
    **{f"ItemCF {kind}": ItemCF(**cfg) for kind, cfg in itemcf_best.items()},
    # the app's recipe: Pearson on ≥ 10 co-raters, no shrinkage, Σ sim · (r − 2)
    "ItemCF app-style": ItemCF(kind="pearson", shrinkage=0.0, min_support=10, centre=2.0, normalize=False),
}
results = {}
for label, model in candidates.items():
    results[label] = evaluate_ranking(model.fit(train), split, k)
metric_cols = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"]
table = pd.DataFrame([{"model": label, **{c: r.metrics[c] for c in metric_cols}, "n_users": r.metrics["n_users"]}
                      for label, r in results.items()])

# %%
print(f"test, hybrid-study protocol, k={k}")
print(table.round(4).to_string(index=False))

# %% [markdown]
# Is the difference to ItemKNN more than noise? Paired bootstrap over users (2,000 draws)
# of the per-user NDCG@k difference between each ItemCF variant and ItemKNN.

# %%
ref = results["ItemKNN"].per_user["ndcg"]
cis = {label: paired_bootstrap_ci(r.per_user["ndcg"], ref, rng=seed) for label, r in results.items()
       if label.startswith("ItemCF")}
for label, ci in cis.items():
    print(f"{label} − ItemKNN, NDCG@{k}: {ci}")

# %%
fig, ax = plt.subplots(figsize=(9, 4))
show = ["precision", "recall", "ndcg", "map"]
x = np.arange(len(show))
w = 0.8 / len(table)
for i, row in table.iterrows():
    ax.bar(x + i * w, [row[c] for c in show], width=w, label=row["model"])
ax.set_xticks(x + w * (len(table) - 1) / 2, [f"{c}@{k}" if c != "map" else f"MAP@{k}" for c in show])
ax.set_title(f"Hybrid-study protocol, test (k={k})")
ax.legend(fontsize=8, ncol=2)
fig.tight_layout()
fig.savefig(out / "test_metrics.png", dpi=110)
plt.show()

# %% [markdown]
# ## 5. Save metrics and configuration

# %%
metrics = {  # full precision: the regression test compares these with tolerances
    "protocol": "study",
    "k": k,
    "split": summary,
    "table": [{"model": row["model"], **{c: float(row[c]) for c in metric_cols}, "n_users": int(row["n_users"])}
              for _, row in table.iterrows()],
    "tables": {
        f"Validation (ItemCF, NDCG@{k} chooses)": [
            dict(row) for row in itemcf_rows
        ],
        f"Validation (EASE λ, NDCG@{k} chooses)": [dict(row) for row in ease_rows],
    },
    "paired_ci_ndcg_vs_itemknn": {label: dataclasses.asdict(ci) for label, ci in cis.items()},
    "similar_items": similar_tables,
}
config = {
    "params": {"seed": seed, "k": k, "n_users": n_users, "shrinkage": shrinkage, "min_support": min_support},
    "models": {label: model.config_dict() for label, model in candidates.items()},
    "chosen_on_validation": {"ease": ease_best, "itemcf": itemcf_best},
}
write_json(out / "metrics.json", metrics)
write_json(out / "config.json", config)
print("wrote", sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".png")))
