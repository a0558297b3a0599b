"""Appends JSON log lines to a file at a steady rate, each stamped with the time it is written.

Usage: filelog_writer.py PATH RATE SECONDS. Lines are written in slices every 10 ms and flushed
at once, so a line's timestamp is at most one slice older than its write.
"""
import random
import sys
import time

path, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rnd = random.Random(7)
levels = ["INFO"] * 70 + ["DEBUG"] * 15 + ["WARN"] * 10 + ["ERROR"] * 5
total = int(rate * seconds)
tick = 0.01
written = 0
start = time.monotonic()
with open(path, "a", buffering=1 << 20) as f:
    while written < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        out = []
        while written < due:
            now = time.time_ns()
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000_000))
            out.append(
                '{"timestamp":"%s.%09dZ","level":"%s","message":"request completed",'
                '"service.name":"checkout","trace_id":"%032x","span_id":"%016x",'
                '"http.route":"/api/v1/orders","http.status_code":200,"duration_ms":%.3f,'
                '"retry":false}\n'
                % (ts, now % 1_000_000_000, rnd.choice(levels), rnd.getrandbits(128),
                   rnd.getrandbits(64), rnd.random() * 250))
            written += 1
        f.write("".join(out))
        f.flush()
        if written < total:
            time.sleep(tick)
print(f"wrote {written} lines in {time.monotonic() - start:.2f}s")
