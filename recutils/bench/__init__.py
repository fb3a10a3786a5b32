"""Benchmark tooling (not tests): ``python -m recutils.bench.peers`` times this project against
its peers (implicit, cornac, ranx, Spark MLlib) on the same data in one process."""
