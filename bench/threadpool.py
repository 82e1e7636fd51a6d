"""A fixed pool of threads: at most --workers clients are served at once, the rest queue."""

from concurrent.futures import ThreadPoolExecutor

from bench import common


def main():
    options = common.parse_args("threadpool")
    listener = common.listen(options)
    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        while True:
            sock, address = listener.accept()
            pool.submit(common.serve_blocking, sock, address, options.factory)


if __name__ == "__main__":
    common.run(main)
