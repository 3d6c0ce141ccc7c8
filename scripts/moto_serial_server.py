"""moto's server with one request at a time.

moto's DynamoDB is not thread-safe: TransactWriteItems deep-copies the table while other
request threads write to it, and under concurrent load answers "dictionary changed size during
iteration" as an HTML 500. The HTTP side stays threaded (keep-alive connections are fine); the
emulator's state is touched by one request at a time, as it would be by a real database's
own isolation. Usage: python moto_serial_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Produce the whole body under the lock: moto builds it from shared state.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
