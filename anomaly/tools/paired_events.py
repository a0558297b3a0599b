"""Compares two `LATENCY_EVAL_DEBUG=1 latency-eval` runs over the same seeds
(e.g. the detector and `--oracle-clean`) tail event by tail event.

Both runs print one `tail event:` line per contamination tail event (true
p < 1e-4) in the same order, since the generator does not depend on the
detector. Events are banded by the FIRST run's spike threshold (its true tail
probability) and by key age, and each band shows both runs' recall on the same
events and the second run's threshold (median true tail probability): whether
a threshold far beyond the assumed 1e-4 in the first run is still there when
contamination is not learned. Then, each run banded by its own threshold,
the tail events that arrived before the key's intermittent episode opened.

    LATENCY_EVAL_DEBUG=1 latency-eval --seeds 5 --perf-spans 0 2> a.txt >/dev/null
    LATENCY_EVAL_DEBUG=1 latency-eval --seeds 5 --perf-spans 0 --oracle-clean 2> b.txt >/dev/null
    python3 paired_events.py a.txt b.txt
"""

import re
import statistics
import sys

LINE = re.compile(
    r"tail event: window (\d+) level (\S+) n (\d+) age (\d+) σ (\S+) pareto (\S+) "
    r"bimodal (\S+) ×(\S+) true p (\S+) threshold (\S+) ms \(true p (\S+)\) "
    r"tagged (\S+) open (\S+)"
)
THRESHOLD_BANDS = ["< 1e-6", "1e-6–1e-5", "1e-5–1e-4", "≥ 1e-4", "warm-up"]
AGE_BANDS = ["< 3,000", "3,000–30,000", "≥ 30,000"]


def events(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                g = m.groups()
                out.append(
                    {
                        "age": int(g[3]),
                        "thp": float(g[10]),
                        "tagged": g[11] == "true",
                        "open": g[12] == "true",
                    }
                )
    return out


def threshold_band(p):
    if p != p:  # NaN: warm-up, no threshold yet
        return "warm-up"
    for edge, name in [(1e-6, "< 1e-6"), (1e-5, "1e-6–1e-5"), (1e-4, "1e-5–1e-4")]:
        if p < edge:
            return name
    return "≥ 1e-4"


def age_band(a):
    if a < 3_000:
        return "< 3,000"
    return "3,000–30,000" if a < 30_000 else "≥ 30,000"


def recall(evs):
    n = len(evs)
    k = sum(e["tagged"] for e in evs)
    return f"{k / n:.2f} ({n - k})" if n else "–"


def paired(a, b, band, bands, title):
    print(f"\n{title}\n")
    print("| band | tail events | first run: recall (missed) | second run: recall (missed) "
          "| second run's threshold, median true p |")
    print("|---|---|---|---|---|")
    for name in bands:
        idx = [i for i, e in enumerate(a) if band(e) == name]
        if not idx:
            continue
        second = [b[i] for i in idx]
        thp = [e["thp"] for e in second if e["thp"] == e["thp"]]
        med = f"{statistics.median(thp):.1e}" if thp else "–"
        print(f"| {name} | {len(idx)} | {recall([a[i] for i in idx])} | {recall(second)} | {med} |")


def own(a, b, band, bands, title):
    print(f"\n{title}\n")
    print("| band | first run: events, recall (missed) | second run: events, recall (missed) |")
    print("|---|---|---|")
    for name in bands:
        ea = [e for e in a if not e["open"] and band(e) == name]
        eb = [e for e in b if not e["open"] and band(e) == name]
        if ea or eb:
            print(f"| {name} | {len(ea)}, {recall(ea)} | {len(eb)}, {recall(eb)} |")


def main() -> None:
    a, b = events(sys.argv[1]), events(sys.argv[2])
    if len(a) != len(b) or any(x["age"] != y["age"] for x, y in zip(a, b)):
        sys.exit("the two runs do not hold the same tail events (same seeds?)")
    th = lambda e: threshold_band(e["thp"])  # noqa: E731
    age = lambda e: age_band(e["age"])  # noqa: E731
    paired(a, b, th, THRESHOLD_BANDS,
           "Same tail events, by the first run's spike threshold (its true tail probability)")
    paired(a, b, age, AGE_BANDS, "Same tail events, by key age (spans seen)")
    own(a, b, th, THRESHOLD_BANDS,
        "Before the intermittent episode opened, by each run's own threshold")
    own(a, b, age, AGE_BANDS, "Before the intermittent episode opened, by key age")


if __name__ == "__main__":
    main()
