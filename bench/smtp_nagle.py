#!/usr/bin/env python3
"""Why an email to aiosmtpd takes ~44 ms more than a webhook (BENCHMARKS.md, "Alert latency:
condition to email"): one SMTP session against tests/python/smtp_sink.py, the message body and
the CRLF.CRLF terminator written as lettre 0.11 writes them (two writes, Nagle on), then
with TCP_NODELAY, then in one write. 15 sessions each; prints medians.

    .venv/bin/python bench/smtp_nagle.py    # a Python with aiosmtpd
"""
import os, socket, subprocess, sys, time, tempfile, statistics
d=tempfile.mkdtemp()
p=subprocess.Popen([sys.executable,os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python", "smtp_sink.py"),"--dir",d],stdin=subprocess.PIPE,stdout=subprocess.PIPE)
port=int(p.stdout.readline().split()[1])
def rl(f):
    while True:
        l=f.readline()
        if l[3:4]!=b'-': return l
body=(b"Subject: x\r\nFrom: a@example.com\r\nTo: b@example.com\r\n\r\n"+b"hello world line\r\n"*200)
def one(nodelay, split):
    s=socket.create_connection(("127.0.0.1",port))
    if nodelay: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f=s.makefile('rb')
    t0=time.perf_counter()
    rl(f)
    for c in [b"EHLO x\r\n",b"MAIL FROM:<a@example.com>\r\n",b"RCPT TO:<b@example.com>\r\n",b"DATA\r\n"]:
        s.sendall(c); rl(f)
    if split:
        s.sendall(body); s.sendall(b"\r\n.\r\n")
    else:
        s.sendall(body+b"\r\n.\r\n")
    rl(f)
    t=time.perf_counter()-t0
    s.sendall(b"QUIT\r\n"); rl(f); s.close()
    return t*1000
for nd,sp in [(False,True),(True,True),(False,False)]:
    ts=[one(nd,sp) for _ in range(15)]
    print("nodelay=%s two_writes=%s median %.1f ms min %.1f max %.1f"%(nd,sp,statistics.median(ts),min(ts),max(ts)))
p.stdin.close(); p.wait()
