"""socketserver's ThreadingUDPServer: a thread per datagram."""

import socketserver

from bench import common


def main():
    options = common.parse_args("ss-udp")
    answer = common.DatagramAnswers(options)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            reply = answer(data, lambda more: sock.sendto(more, self.client_address))
            if reply:
                sock.sendto(reply, self.client_address)

    with socketserver.ThreadingUDPServer((options.host, options.port), Handler) as server:
        server.daemon_threads = True
        common.announce(options, server.server_address, "udp")
        server.serve_forever()


if __name__ == "__main__":
    common.run(main)
