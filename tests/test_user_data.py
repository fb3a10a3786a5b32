"""Issue 21: a user's own data (a flat ``ratings.csv`` / ``movies.csv`` folder, not in the
registry, so not checksummed) is checked like the registered data — every tampering is one
``<file> line N: …`` error (exit 2 from a CLI), or handled as the user declared
(``--dedupe``, ``--drop-unknown-movies``, ``--rating-scale``); never metrics on changed data."""

import re

import numpy as np
import pytest

from recutils.datasets import DataPolicy, load_movies, load_ratings
from recutils.datasets.validate import parse_scale
from recutils.errors import ConfigError, DataError

HEADER = "userId,movieId,rating,timestamp\n"
ROWS = ["1,10,4.0,964982703", "1,11,3.5,964982704", "2,10,5.0,964982705", "2,12,0.5,964982706"]
MOVIES = "movieId,title,genres\n10,Heat (1995),Action\n11,Up (2009),Animation\n12,Alien (1979),Horror\n"


def folder(tmp_path, rows=ROWS, movies=MOVIES, tail="\n"):
    d = tmp_path / "mine"
    d.mkdir(exist_ok=True)
    (d / "ratings.csv").write_text(HEADER + "\n".join(rows) + tail)
    if movies is not None:
        (d / "movies.csv").write_text(movies)
    return d


def one_line_error(d, expected, **kw):
    with pytest.raises(DataError) as e:
        load_ratings(d, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg == expected.format(r=d / "ratings.csv", m=d / "movies.csv"), msg
    return msg


def test_good_own_data_loads_unchanged(tmp_path):
    df = load_ratings(folder(tmp_path))
    assert df.rating.tolist() == [4.0, 3.5, 5.0, 0.5] and df.userId.dtype == np.int64


@pytest.mark.parametrize("row,expected", [
    ("3,10,inf,964982707", "{r} line 6: rating inf is not a finite number"),
    ("3,10,-inf,964982707", "{r} line 6: rating -inf is not a finite number"),
    ("3,10,1e9,964982707", "{r} line 6: rating 1e+09 is off the declared scale 0.5 to 5 in steps of 0.5 "
                           "(declare yours with --rating-scale LOW:HIGH[:STEP])"),
    ("3,10,-5,964982707", "{r} line 6: rating -5 is off the declared scale 0.5 to 5 in steps of 0.5 "
                          "(declare yours with --rating-scale LOW:HIGH[:STEP])"),
    ("3,10,0,964982707", "{r} line 6: rating 0 is off the declared scale 0.5 to 5 in steps of 0.5 "
                         "(declare yours with --rating-scale LOW:HIGH[:STEP])"),
    ("3,10,3.7,964982707", "{r} line 6: rating 3.7 is off the declared scale 0.5 to 5 in steps of 0.5 "
                           "(declare yours with --rating-scale LOW:HIGH[:STEP])"),
    ("3,10,4.0,-5", "{r} line 6: timestamp -5 is before 1970"),
    ("-3,10,4.0,964982707", "{r} line 6: userId -3 is negative (ids are whole numbers ≥ 0)"),
    ("3,10,4.0,1180591620717411303424", "{r} line 6: timestamp 1180591620717411303424 is out of range "
                                        "(a 64-bit integer: at most 19 digits)"),
    ("1,10,4.0,964982707", "{r} line 6: user 1 rated movie 10 again (first at line 2; 1 pair rated more than "
                           "once): pass --dedupe last or --dedupe mean to keep one rating per pair"),
    ("1,10,2.0,964982707", "{r} line 6: user 1 rated movie 10 again (first at line 2; 1 pair rated more than "
                           "once): pass --dedupe last or --dedupe mean to keep one rating per pair"),
    ("3,99,4.0,964982707", "{r} line 6: movie 99 is not in {m} (1 rating of 1 unknown movie): "
                           "pass --drop-unknown-movies to drop them"),
])
def test_tampered_rows_are_one_line_errors(tmp_path, row, expected):
    one_line_error(folder(tmp_path, ROWS + [row]), expected)


def test_future_timestamp(tmp_path):
    d = folder(tmp_path, ROWS + ["3,10,4.0,99999999999"])
    with pytest.raises(DataError, match=re.escape(f"{d / 'ratings.csv'} line 6: timestamp 99999999999 is in the future")):
        load_ratings(d)


def test_many_bad_rows_say_how_many(tmp_path):
    one_line_error(folder(tmp_path, ROWS + ["3,10,inf,1", "3,11,nan,1".replace("nan", "inf"), "3,12,inf,1"]),
                   "{r} line 6: rating inf is not a finite number (2 more such rows)")


def test_file_cut_mid_record(tmp_path):
    one_line_error(folder(tmp_path, ROWS + ["3,10,4.0,9649"], tail=""),
                   "{r} line 6: the file ends mid-record (no newline after the last line): cut short? "
                   "If it is complete, end it with a newline")


def test_movies_cut_mid_field_and_duplicated_ids(tmp_path):
    d = folder(tmp_path, movies=MOVIES + '13,"Toy Sto')
    with pytest.raises(DataError) as e:
        load_ratings(d)
    assert str(e.value).startswith(f"{d / 'movies.csv'} line 5:"), str(e.value)
    d = folder(tmp_path, movies=MOVIES + "11,Up again (2009),Animation\n")
    msg = ("{m} line 5: movieId 11 is listed again (first at line 3; 1 repeated id): each movie must be listed once")
    one_line_error(d, msg)
    with pytest.raises(DataError, match=re.escape(msg.format(m=d / "movies.csv"))):
        load_movies(d)


def test_dedupe_last_and_mean(tmp_path, caplog):
    d = folder(tmp_path, ROWS + ["1,10,2.0,964982800"])
    last = load_ratings(d, policy=DataPolicy(dedupe="last"))
    assert len(last) == 4 and last.loc[(last.userId == 1) & (last.movieId == 10), "rating"].item() == 2.0
    mean = load_ratings(d, policy=DataPolicy(dedupe="mean"))
    row = mean.loc[(mean.userId == 1) & (mean.movieId == 10)]
    assert len(mean) == 4 and row.rating.item() == 3.0 and row.timestamp.item() == 964982800
    assert "1 duplicated rows of 1 (user, movie) pairs merged (--dedupe mean)" in caplog.text


def test_drop_unknown_movies_reports_how_many(tmp_path, caplog):
    d = folder(tmp_path, ROWS + ["3,99,4.0,964982707", "3,98,4.0,964982708"])
    df = load_ratings(d, policy=DataPolicy(unknown_movies="drop"))
    assert sorted(df.movieId.unique()) == [10, 11, 12] and len(df) == 4
    assert "dropped 2 ratings of 2 movies not in" in caplog.text


def test_declared_scale(tmp_path):
    d = folder(tmp_path, ["1,10,7,964982703", "1,11,10,964982704", "2,10,1,964982705"])
    one_line_error(d, "{r} line 2: rating 7 is off the declared scale 0.5 to 5 in steps of 0.5 "
                      "(declare yours with --rating-scale LOW:HIGH[:STEP]) (1 more such row)")
    assert load_ratings(d, policy=DataPolicy(rating_scale="1:10:1")).rating.tolist() == [7, 10, 1]
    assert parse_scale("0:1") == (0.0, 1.0, None)
    for bad in ("5", "5:1", "0:1:0", "a:b", "0:1:0.3", "nan:1"):
        with pytest.raises(ConfigError, match="--rating-scale"):
            parse_scale(bad)


def test_ratings_without_movies_file_skip_only_that_check(tmp_path):
    assert len(load_ratings(folder(tmp_path, ROWS + ["3,99,4.0,964982707"], movies=None))) == 5


def test_synthetic_data_passes(tmp_path):
    from recutils.datasets import synth

    ratings, movies = synth.generate(3000, 60, 200, seed=1)
    synth.write(tmp_path, ratings, movies)
    assert len(load_ratings(tmp_path)) == 3000


@pytest.mark.parametrize("argv,expected", [
    ([], "line 6: rating inf is not a finite number"),
    (["--dedupe", "first"], "--dedupe must be last or mean, got 'first'"),
    (["--rating-scale", "1"], "--rating-scale must look like LOW:HIGH or LOW:HIGH:STEP"),
])
def test_evaluate_cli_one_line_exit_2(tmp_path, capsys, argv, expected):
    from recutils.evaluate import main

    d = folder(tmp_path, ROWS + ["3,10,inf,964982707"])
    assert main(["--model", "mostpop", "--data-dir", str(d), *argv]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0] and cap.out == ""


def test_evaluate_cli_passes_the_declared_policy(tmp_path, monkeypatch):
    import recutils.evaluate as ev

    seen = {}
    monkeypatch.setattr(ev, "run", lambda *a, **k: seen.setdefault("policy", a[5]) and pytest.skip("captured"))
    with pytest.raises(pytest.skip.Exception):
        ev.main(["--model", "mostpop", "--data-dir", str(tmp_path), "--dedupe", "mean", "--drop-unknown-movies",
                 "--rating-scale", "1:10:1"])
    assert seen["policy"] == DataPolicy("1:10:1", "mean", "drop")
