"""Progress: log lines when not on a terminal, an in-place display on one."""

import io

from mmal.bench.progress import Progress

CELLS = [{"key": "d/a/0", "rounds": 2}, {"key": "d/b/0", "rounds": 2}]


def row(key, r, **kw):
    return {"cell": key, "status": "ok", "round": r, "n_labeled": 10 * (r + 1), "metrics": {"acc": 0.5 + r / 10},
            "query_seconds": 0.1, "train_seconds": 0.2, **kw}


def feed(p):
    p(("start", "d/a/0", 0))
    for r in range(3):
        p(("row", row("d/a/0", r)))
    p(("end", "d/a/0"))
    p(("start", "d/b/0", 1))
    p(("row", {"cell": "d/b/0", "status": "failed", "round": 1, "error": "RuntimeError: x"}))
    p(("end", "d/b/0"))
    p.close()


def test_plain_mode_writes_log_lines_to_the_stream_and_the_log_file():
    stream, log = io.StringIO(), io.StringIO()
    p = Progress(CELLS, mode="auto", stream=stream, log_file=log, done={"d/b/0": 1})
    feed(p)
    text = stream.getvalue()
    assert p.mode == "plain" and "\x1b[" not in text
    assert "[4/6] d/a/0 round 2/2: 30 labeled, acc=0.7000" in text
    assert "d/a/0 done" in text and "resuming after 1 finished rounds" in text
    assert "d/b/0 FAILED at round 1: RuntimeError: x" in text and "1 failed cells" in text
    assert log.getvalue().count("\n") == text.count("\n")


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_terminal_mode_redraws_overall_and_running_cells_in_place():
    stream, log = Tty(), io.StringIO()
    p = Progress(CELLS, mode="auto", stream=stream, log_file=log)
    p(("start", "d/a/0", 0))
    p(("row", row("d/a/0", 0)))
    p.draw(force=True)
    lines = p.lines()
    assert p.mode == "tty" and lines[0].startswith("overall [") and "1/6 rounds, 0/2 cells" in lines[0]
    assert "d/a/0" in lines[1] and "round 0/2: 10 labeled, acc=0.5000" in lines[1]
    feed(p)
    out = stream.getvalue()
    assert "\x1b[2K" in out and "\x1b[2F" in out  # clear lines, move back up to redraw
    assert "d/a/0 done" in log.getvalue()  # the log file still gets every event
