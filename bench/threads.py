"""Thread per client, as the labs' multithreaded server."""

import threading

from bench import common


def main(model="threads"):
    options = common.parse_args(model)
    listener = common.listen(options)
    while True:
        sock, address = listener.accept()
        threading.Thread(target=common.serve_blocking, args=(sock, address, options.factory),
                         daemon=True).start()


if __name__ == "__main__":
    common.run(main)
