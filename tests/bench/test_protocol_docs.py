"""docs/benchmarks.md's protocol table lists every shipped protocol, and nothing else."""

import re
from pathlib import Path

from mmal import protocols

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def test_every_shipped_protocol_has_a_row():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("### The papers' protocols", 1)[1].split("\n\n", 2)[1]
    listed = {name for line in table.splitlines() if line.startswith("| `")
              for name in re.findall(r"`([^`]+)`", line.split("|")[1])}
    assert listed == set(protocols.names()), (  # (missing rows, rows of no protocol)
        sorted(set(protocols.names()) - listed), sorted(listed - set(protocols.names())))
