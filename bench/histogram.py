"""A log-linear latency histogram, the twin of bucket() in bench/c/loadgen.c.

Values (microseconds) below 16 have a bucket each; above, every power of two
is split into 16 sub-buckets, so any value is placed within 1/16 (6.25%) of
itself, in 1,024 counters for a range up to days.  Percentiles report the
bucket's upper bound, never an optimistic figure.
"""

NBUCKETS = 64 * 16


def bucket(us):
    """The bucket index of a latency in whole microseconds."""
    us = int(us)
    if us < 16:
        return max(us, 0)
    exponent = us.bit_length() - 1
    index = (exponent - 3) * 16 + ((us >> (exponent - 4)) & 15)
    return min(index, NBUCKETS - 1)


def upper_bound(index):
    """The largest microsecond value that falls in bucket `index`."""
    if index < 16:
        return index
    exponent = index // 16 + 3
    sub = index % 16
    return ((16 + sub + 1) << (exponent - 4)) - 1


class Histogram:
    def __init__(self, counts=None):
        self.counts = {int(k): int(v) for k, v in (counts or {}).items()}

    def record(self, us):
        index = bucket(us)
        self.counts[index] = self.counts.get(index, 0) + 1

    def merge(self, other):
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count

    @property
    def total(self):
        return sum(self.counts.values())

    def percentile(self, p):
        """The latency (us) at or below which `p` percent of samples fall."""
        total = self.total
        if not total:
            return None
        rank = max(1, -(-total * p // 100))  # ceil, at least the first sample
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return upper_bound(index)
        return upper_bound(max(self.counts))

    def summary(self):
        return {f"p{name}_us": self.percentile(p)
                for name, p in (("50", 50), ("90", 90), ("99", 99), ("999", 99.9))}
