"""Feed a handler its input whole, byte by byte, or in any split."""

from hypothesis import strategies as st


def feed(handler, chunks):
    """Feed `chunks` then EOF; return the bytes the handler answered."""
    out = []
    for chunk in chunks:
        reply = handler.data_received(chunk)
        if reply:
            out.append(reply)
    final = handler.eof_received()
    if final:
        out.append(final)
    return b"".join(out)


def split_at(data, cuts):
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    pieces = []
    start = 0
    for point in points + [len(data)]:
        pieces.append(data[start:point])
        start = point
    return [piece for piece in pieces if piece]


def byte_by_byte(data):
    return [data[i:i + 1] for i in range(len(data))]


cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=20)
