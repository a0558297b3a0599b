"""Appends JSON log lines to several files, RATE lines/s to each, each line stamped with the
time it is written and flushed at once (one write per line, as an application logging
unbuffered would).

Usage: filelog_many_writer.py RATE SECONDS PATH...  Writes to the files are spread evenly over
each 1/RATE period, so the files are not all written in the same instant.
"""
import random
import sys
import time

rate, seconds, paths = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
rnd = random.Random(11)
files = [open(p, "a", buffering=1) for p in paths]
period = 1.0 / rate
slots = [(i * period / len(files), f) for i, f in enumerate(files)]
total = int(rate * seconds)
start = time.monotonic()
written = 0
for n in range(total):
    for offset, f in slots:
        due = start + n * period + offset
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = time.time_ns()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000_000))
        f.write(
            '{"timestamp":"%s.%09dZ","level":"INFO","message":"request completed",'
            '"service.name":"checkout","trace_id":"%032x","span_id":"%016x",'
            '"http.route":"/api/v1/orders","http.status_code":200,"duration_ms":%.3f,'
            '"retry":false}\n'
            % (ts, now % 1_000_000_000, rnd.getrandbits(128), rnd.getrandbits(64),
               rnd.random() * 250))
        written += 1
for f in files:
    f.close()
print(f"wrote {written} lines to {len(files)} files in {time.monotonic() - start:.2f}s")
