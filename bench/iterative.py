"""Iterative: one client at a time, as the labs' first server; the rest wait in the backlog."""

from bench import common


def main():
    options = common.parse_args("iterative")
    listener = common.listen(options)
    while True:
        sock, address = listener.accept()
        common.serve_blocking(sock, address, options.factory)


if __name__ == "__main__":
    common.run(main)
