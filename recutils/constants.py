"""Named constants shared by every module, notebook and test."""

COL_USER = "userId"
COL_ITEM = "movieId"
COL_RATING = "rating"
COL_TIMESTAMP = "timestamp"
COL_TITLE = "title"
COL_GENRES = "genres"

#: Cut-off used by the hybrid study and therefore by our headline tables.
K = 25
#: Seed used wherever the hybrid study used one (``random_state=42``).
SEED = 42
#: A test rating at or above this value makes the item relevant.
RELEVANCE_THRESHOLD = 4.0
#: Users with fewer ratings than this are kept entirely in train (hybrid-study protocol).
MIN_USER_RATINGS = 5
#: Share of each user's ratings that goes to test (hybrid-study protocol).
TEST_SIZE = 0.2

#: Environment variable naming a local mirror / cache of the datasets.
DATA_DIR_ENV = "RECUTILS_DATA_DIR"
#: Environment variable naming the cache for models and embeddings.
CACHE_DIR_ENV = "RECUTILS_CACHE_DIR"
