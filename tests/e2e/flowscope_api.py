"""Imported by the end-to-end tests' Python code that talks to the HTTP API: every urllib request
then carries the token the test's servers require, read as an operator reads it from the token
file in the runtime directory ($FLOWSCOPE_RUNTIME_DIR/token, made by flowd at its first start;
lib.sh sets the directory). token() gives it for other clients."""
import os
import time
import urllib.request


def token(wait_s=10.0):
    """The token; None when the file is not there (yet) after wait_s."""
    path = os.path.join(os.environ.get("FLOWSCOPE_RUNTIME_DIR", "/run/flowscope"), "token")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with open(path) as f:
                t = f.readline().strip()
            if t:
                return t
        except FileNotFoundError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


class _Auth(urllib.request.BaseHandler):
    """Adds the header at request time: the file may be made after this module is imported (a
    request before flowd made it goes without, as one before flowd listens goes nowhere)."""

    def http_request(self, req):
        t = token(0)
        if t and not req.has_header("Authorization"):
            req.add_unredirected_header("Authorization", "Bearer " + t)
        return req

    https_request = http_request


urllib.request.install_opener(urllib.request.build_opener(_Auth()))
