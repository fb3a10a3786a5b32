"""Every notebook pair agrees: .py source ↔ .ipynb ↔ golden code cells, params files present
(the check-sync logic of ``python -m recutils.notebooks check-sync``, one test per notebook)."""

import pytest

from recutils import notebooks as nbm

NOTEBOOKS = nbm.discover()


@pytest.mark.parametrize("name", [nb.name for nb in NOTEBOOKS]
                         or [pytest.param("none", marks=pytest.mark.skip(reason="no notebooks yet"))])
def test_notebook_pair_params_and_golden_in_sync(name):
    problems = nbm.check_notebook(nbm.find(name, NOTEBOOKS))
    assert not problems, "\n".join(problems)


def test_no_orphan_notebook_files():
    problems = nbm.orphans()
    assert not problems, "\n".join(problems)
