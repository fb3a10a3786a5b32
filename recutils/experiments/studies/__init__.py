"""The study logic behind each notebook, one module per notebook (``item_cf`` for 01, …): what
a notebook would otherwise hold in loops and hand-built dicts. Each module builds on the shared
experiments API (:mod:`recutils.experiments`: the choose-on-validation loop, the experiment, the
repeated-split runner, the result record); the notebook keeps the narrative, the calls and the
figures."""
