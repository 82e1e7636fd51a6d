"""evloop.connection.read_sizes: the sizes a read asks for, and the rule that shrinks them."""

import sys

from evloop.connection.read_sizes import LARGE_READ
from evloop.connection.read_sizes import SMALL_READ
from evloop.connection.read_sizes import SMALL_READS_TO_SHRINK
from evloop.connection.read_sizes import after_large_read


def test_the_sizes_fit_the_allocators_they_are_chosen_for():
    # A small read's bytes object is pymalloc's largest block at most, a large one's
    # stays under glibc's 128 KiB mmap threshold (the essay says why).
    assert sys.getsizeof(b"x" * SMALL_READ) <= 512
    assert sys.getsizeof(b"x" * LARGE_READ) < 128 * 1024


def test_reads_shrink_after_enough_small_large_reads_in_a_row():
    size, small = LARGE_READ, 0
    seen = []
    for _ in range(SMALL_READS_TO_SHRINK):
        size, small = after_large_read(SMALL_READ, small)
        seen.append(size)
    assert seen == [LARGE_READ] * (SMALL_READS_TO_SHRINK - 1) + [SMALL_READ]
    assert small == 0  # counted afresh for the next time reads grow


def test_a_large_read_that_got_more_starts_the_count_again():
    size, small = LARGE_READ, 0
    for _ in range(SMALL_READS_TO_SHRINK - 1):
        size, small = after_large_read(1, small)
    assert (size, small) == (LARGE_READ, SMALL_READS_TO_SHRINK - 1)
    assert after_large_read(SMALL_READ + 1, small) == (LARGE_READ, 0)


def test_a_reader_with_a_smaller_largest_read_keeps_it():
    assert after_large_read(SMALL_READ + 1, 0, large=64 * 1024) == (64 * 1024, 0)
