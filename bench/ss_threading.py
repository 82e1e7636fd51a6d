"""socketserver.ThreadingTCPServer: the standard library's thread per client."""

import socketserver

from bench import common


def main():
    options = common.parse_args("ss-threading")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            common.serve_blocking(self.request, self.client_address, options.factory)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.request_queue_size = options.backlog
    with socketserver.ThreadingTCPServer((options.host, options.port), Handler) as server:
        common.announce(options, server.server_address)
        server.serve_forever()


if __name__ == "__main__":
    common.run(main)
