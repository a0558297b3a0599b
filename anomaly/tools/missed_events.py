"""Breaks down the contamination tail events (true p < 1e-4) that Lookout left
untagged, from the `tail event:` lines `LATENCY_EVAL_DEBUG=1 latency-eval`
prints on stderr: by what the detector was doing when each arrived.

    LATENCY_EVAL_DEBUG=1 latency-eval --seeds 5 --perf-spans 0 2> debug.txt >/dev/null
    python3 missed_events.py debug.txt

Circumstances, in this order:
- inside a shift or degradation episode (the threshold the detector applied
  has a true tail probability >= 1e-3: an episode's tag level);
- the key's intermittent episode open;
- otherwise, by the true tail probability of the spike threshold applied, and
  whether that threshold had risen 1.2x or more since the window's first tail
  event ("fattened": earlier bursts of the window were learned).
"""

import collections
import re
import sys

LINE = re.compile(
    r"tail event: window (\d+) level (\S+) n (\d+) age (\d+) σ (\S+) pareto (\S+) "
    r"bimodal (\S+) ×(\S+) true p (\S+) threshold (\S+) ms \(true p (\S+)\) "
    r"tagged (\S+) open (\S+)"
)


def circumstance(th_p: float, is_open: bool, fattened: bool) -> str:
    """Names the circumstance of one tail event (see the module docstring)."""
    if th_p >= 1e-3:
        return "inside a shift or degradation episode"
    if is_open:
        return "intermittent episode open"
    if th_p >= 1e-4:
        band = "spike threshold true p >= 1e-4"
    elif th_p >= 1e-5:
        band = "spike threshold true p 1e-5 to 1e-4"
    elif th_p >= 1e-6:
        band = "spike threshold true p 1e-6 to 1e-5"
    else:
        band = "spike threshold true p < 1e-6"
    return f"not open, {band}" + (", fattened" if fattened else "")


def main() -> None:
    first_threshold = {}
    events = collections.Counter()
    missed = collections.Counter()
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            w, lv, _n, _age, sg, par, _bi, _mag, _p, th, thp, tg, op = m.groups()
            window = (w, sg, par, lv)
            th = float(th)
            first_threshold.setdefault(window, th)
            c = circumstance(float(thp), op == "true", th >= 1.2 * first_threshold[window])
            events[c] += 1
            missed[c] += tg != "true"
    print("| circumstance | tail events | missed |")
    print("|---|---|---|")
    for c in sorted(events):
        print(f"| {c} | {events[c]} | {missed[c]} |")
    print(f"| all | {sum(events.values())} | {sum(missed.values())} |")


if __name__ == "__main__":
    main()
