"""Groups the `tail event:` lines that `LATENCY_EVAL_DEBUG=1 latency-eval` prints
on stderr by contamination window and prints, for each window with at least 10
tail events (true p < 1e-4), when Lookout's intermittent episode opened, the
spike threshold and its true tail probability at the window's first and tenth
tail event outside an episode (the intermittent test assumes 1e-4 there), and
how many of those were untagged.

    LATENCY_EVAL_DEBUG=1 latency-eval --seeds 5 --perf-spans 0 2> debug.txt >/dev/null
    python3 late_windows.py debug.txt [--all-levels]

Windows are keyed by (window id, key σ, Pareto share, level): enough to keep
the seeds apart in practice. A window is LATE when its episode opened after
its 10th tail event or never.
"""

import collections
import re
import sys

LINE = re.compile(
    r"tail event: window (\d+) level (\S+) n (\d+) age (\d+) σ (\S+) pareto (\S+) "
    r"bimodal (\S+) ×(\S+) true p (\S+) threshold (\S+) ms \(true p (\S+)\) "
    r"tagged (\S+) open (\S+)"
)


def main() -> None:
    path = sys.argv[1]
    all_levels = "--all-levels" in sys.argv[2:]
    windows = collections.OrderedDict()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            w, lv, n, age, sg, par, bi, _mag, _p, th, thp, tg, op = m.groups()
            windows.setdefault((w, sg, par, lv, bi), []).append(
                (int(n), int(age), float(th), float(thp), tg == "true", op == "true")
            )
    late = ok = 0
    for (_w, sg, par, lv, bi), ev in windows.items():
        if len(ev) < 10 or (float(lv) < 0.01 and not all_levels):
            continue
        first = next((e[0] for e in ev if e[5]), None)
        is_late = first is None or first > 11
        late += is_late
        ok += not is_late
        # Events facing an episode's threshold (true p ≥ 1e-2) are left out.
        out = [e for e in ev[:10] if e[3] < 1e-2]
        untagged = sum(1 for e in out if not e[4])
        th = f"{out[0][2]:.0f} → {out[-1][2]:.0f} ms" if out else "–"
        thp = f"{out[0][3]:.1e} → {out[-1][3]:.1e}" if out else "–"
        print(
            f"{'LATE' if is_late else 'ok':4} level {lv:5} σ {sg} pareto {par} bimodal {bi:5} "
            f"age {ev[0][1]:6} events {len(ev):3} opened before event {first} "
            f"threshold {th}, its true p {thp}, untagged {untagged}/{len(out)}"
        )
    print(f"late {late}, on time {ok}")


if __name__ == "__main__":
    main()
