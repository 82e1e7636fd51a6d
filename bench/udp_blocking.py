"""The labs' UDP server: one blocking recvfrom/sendto loop and nothing else (the floor)."""

from bench import common


def main():
    options = common.parse_args("udp-blocking")
    sock = common.bind_udp(options)
    answer = common.DatagramAnswers(options)
    while True:
        data, address = sock.recvfrom(65535)
        reply = answer(data, lambda more: sock.sendto(more, address))
        if reply:
            sock.sendto(reply, address)


if __name__ == "__main__":
    common.run(main)
