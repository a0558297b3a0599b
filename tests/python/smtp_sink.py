#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the email notifier's tests: accepts every message and
writes what arrived, parsed by Python's own `email` package, as one JSON file per message.

    smtp_sink.py --dir DIR [--starttls CERT KEY | --smtps CERT KEY] [--user U --password P]

Prints `ready PORT` on stdout once it accepts connections on 127.0.0.1:PORT, then serves
until stdin closes (the test holding the pipe ends; so does the server, even if the test
panics). --starttls offers STARTTLS with the given PEM certificate and key and requires it
before AUTH and mail; --smtps speaks TLS from the first byte (implicit TLS). With --user,
AUTH PLAIN and LOGIN are offered and required, and only that user and password succeed.

Each file DIR/NNNN.json holds: mail_from, rcpt_tos (the envelope), auth_user, tls (whether
the session was encrypted), subject, from, to, cc, message_id, date, content_type, text and
html (the decoded parts, null if absent), attachments (filename, content_type, and the decoded
content of text attachments), raw (the whole message as received), received_at
(Unix time in seconds, as a float, when the message's DATA was complete).
"""

import argparse
import json
import logging
import os
import socket
import ssl
import sys
import time
import warnings
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, implicit_tls):
        self.directory = directory
        self.implicit_tls = implicit_tls
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        # When the whole message was in the server's hands (Unix seconds, this host's clock).
        received_at = time.time()
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        auth = session.auth_data
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": auth.login.decode() if isinstance(auth, LoginPassword) else None,
            "tls": self.implicit_tls or session.ssl is not None,
            "subject": msg["subject"],
            "from": msg["from"],
            "to": msg["to"],
            "cc": msg["cc"],
            "message_id": msg["message-id"],
            "date": msg["date"],
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "raw": raw.decode("utf-8", "replace"),
            "attachments": [
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "content": part.get_content() if part.get_content_maintype() == "text" else None,
                }
                for part in (msg.iter_attachments() if msg.is_multipart() else [])
            ],
            "received_at": received_at,
        }
        self.count += 1
        path = os.path.join(self.directory, "%04d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    # AUTH without STARTTLS under --smtps, refused handshakes: expected here, not news.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    def context(pair):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pair[0], pair[1])
        return ctx

    # With --smtps the whole connection is TLS, which aiosmtpd's auth_require_tls (a STARTTLS
    # check) does not see.
    smtp = {"auth_require_tls": bool(args.starttls)}
    controller_args = {}
    if args.starttls:
        smtp["tls_context"] = context(args.starttls)
        smtp["require_starttls"] = True
    if args.smtps:
        controller_args["ssl_context"] = context(args.smtps)
    if args.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == args.user
                and auth_data.password.decode() == args.password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        smtp["authenticator"] = authenticator
        smtp["auth_required"] = True
    port = free_port()
    controller = Controller(
        Sink(args.dir, args.smtps is not None), hostname="127.0.0.1", port=port, **controller_args, **smtp
    )
    controller.start()
    print("ready %d" % port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
