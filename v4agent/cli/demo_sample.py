"""What `v4agent demo` works on: a small shop repository with one bug, and the scripted model's replies.

The replies follow the tool schemas of ``v4agent.tools`` (read_file, run_tests, edit_file, finish); the
stand-in serves them in order, so the demo is the same on every machine and needs no key and no network.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["CHAT_QUESTION", "FILES", "TASK", "replies"]

TASK = "Fix the cart total: it ignores the quantity of each item"
CHAT_QUESTION = "What does this repository do, in two sentences?"

FILES: dict[str, str] = {
    "README.md": "# shop\n\nA tiny shop: a cart that adds up prices.\n",
    "shop/__init__.py": "",
    "shop/cart.py": (
        '"""A shopping cart: items are (price, quantity) pairs."""\n\n\n'
        "def total(items):\n"
        '    """The amount to pay for every item in the cart."""\n'
        "    return sum(price for price, quantity in items)\n"
    ),
    "tests/__init__.py": "",
    "tests/test_cart.py": (
        "import unittest\n\nfrom shop.cart import total\n\n\n"
        "class TotalTest(unittest.TestCase):\n"
        "    def test_empty_cart(self):\n        self.assertEqual(total([]), 0)\n\n"
        "    def test_quantities_count(self):\n        self.assertEqual(total([(2.5, 2), (1.0, 3)]), 8.0)\n\n\n"
        'if __name__ == "__main__":\n    unittest.main()\n'
    ),
}

_BUGGY = "    return sum(price for price, quantity in items)\n"
_FIXED = "    return sum(price * quantity for price, quantity in items)\n"


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": json.dumps(arguments)}


def replies() -> list[dict[str, Any]]:
    """The script for `python -m v4agent.testing.serve --script`: the refactor's turns, then the chat's answer."""
    return [
        {"content": "Let me read the cart first.", "tool_calls": [_call("read_file", path="shop/cart.py")]},
        {"content": "The sum drops the quantity. Running the tests to confirm.", "tool_calls": [_call("run_tests")]},
        {"content": "Confirmed: test_quantities_count fails. Multiplying by the quantity.",
         "tool_calls": [_call("edit_file", path="shop/cart.py", old_text=_BUGGY, new_text=_FIXED)]},
        {"tool_calls": [_call("run_tests")]},
        {"tool_calls": [_call("finish", summary="total() now multiplies each price by its quantity; "
                              "the tests pass.")]},
        {"content": "It is a tiny shop: `shop/cart.py` adds up a cart of (price, quantity) pairs, and "
                    "`tests/test_cart.py` checks the total. The total now counts quantities."},
    ]
