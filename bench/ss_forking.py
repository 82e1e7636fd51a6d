"""socketserver.ForkingTCPServer: a process per client (no shared chat room: each is alone)."""

import socketserver

from bench import common


def main():
    options = common.parse_args("ss-forking")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            common.serve_blocking(self.request, self.client_address, options.factory)

    socketserver.ForkingTCPServer.allow_reuse_address = True
    socketserver.ForkingTCPServer.request_queue_size = options.backlog
    socketserver.ForkingTCPServer.max_children = 100000
    with socketserver.ForkingTCPServer((options.host, options.port), Handler) as server:
        common.announce(options, server.server_address)
        server.serve_forever()


if __name__ == "__main__":
    common.run(main)
