"""Selector names, choices, and what the loop is told about each."""

import selectors

import pytest

from evloop.selecting import EVENT_READ
from evloop.selecting import EVENT_WRITE
from evloop.selecting import available_selectors
from evloop.selecting import make_selector
from evloop.selecting import same_mask
from evloop.selecting import selector_name


def test_selector_names_round_trip(selector):
    sel = make_selector(selector)
    assert selector_name(sel) == selector
    assert selector_name(type(sel)) == selector
    sel.close()
    assert available_selectors()[0] == "auto"
    assert selector in available_selectors()


def test_auto_is_the_platform_default():
    sel = make_selector("auto")
    assert selector_name(sel) == selector_name(selectors.DefaultSelector)
    sel.close()


def test_unknown_selector_lists_the_choices():
    with pytest.raises(ValueError, match="choose from: auto"):
        make_selector("iocp")


def test_a_foreign_selector_class_is_named_by_its_class():
    class Mine:
        pass
    assert selector_name(Mine) == "Mine"


def test_stock_masks_pass_through():
    for mask in (EVENT_READ, EVENT_WRITE, EVENT_READ | EVENT_WRITE):
        assert same_mask(mask) == mask
