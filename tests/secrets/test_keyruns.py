"""Key bodies without their markers: runs of key lines, a key's tail before its footer, and what is left alone."""

from __future__ import annotations

import base64
import random

import pytest

from v4agent.secrets.keyruns import key_line_spans
from v4agent.secrets.results import redact_diff, redact_output

BODY = base64.b64encode(random.Random(5).randbytes(1190)).decode()
LINES = [BODY[i : i + 64] for i in range(0, len(BODY), 64)]  # 18 full lines and a shorter last one
END = "-----END EC " + "PRIVATE KEY-----"


def _lines_found(text: str) -> set[int]:
    return {line for line, _, _ in key_line_spans(text)}


@pytest.mark.parametrize("prefix", ["", "id_ec:", "keys/id_ec:12:", "keys/id_ec-12-", " ", "+", "    \""])
def test_three_key_lines_are_a_run_whatever_the_prefix(prefix: str) -> None:
    text = "\n".join(prefix + line for line in LINES[4:7])
    assert _lines_found(text) == {1, 2, 3}
    assert _lines_found("\n".join(prefix + line for line in LINES[4:6])) == set()  # two are not enough


def test_the_short_last_line_goes_with_its_run_and_the_tail_before_a_footer() -> None:
    assert _lines_found("\n".join([*LINES[:3], "AbC4==", "done"])) == {1, 2, 3, 4}
    assert _lines_found("\n".join([*LINES[-4:], "done"])) == {1, 2, 3, 4}  # the shorter line ended the body
    assert _lines_found("\n".join([*LINES[-2:], END])) == {1, 2}
    assert _lines_found("\n".join(["hello", "world", *LINES[-2:], END])) == {3, 4}


@pytest.mark.parametrize("text", [
    "\n".join(f"{random.Random(i).getrandbits(160):040x}" for i in range(5)),  # hex: one case of letters
    "\n".join(f"    value_{i} = compute(alpha, beta, gamma, delta)  # {i}" for i in range(5)),
    "\n".join("sha512-" + LINES[i] + ' ' * 30 + "and more words after it" for i in range(5)),
    "-----BEGIN CERTIFICATE-----\n" + "\n".join(LINES[:6]) + "\n-----END CERTIFICATE-----",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n\n" + "\n".join(LINES[:6]),
])
def test_what_is_not_a_key_body_is_left_alone(text: str) -> None:
    assert key_line_spans(text) == []


def test_command_output_and_diff_hunks_lose_the_key_lines() -> None:
    output, found = redact_output("$ sed -n 3,8p id_ec\n" + "\n".join(LINES[2:8]) + "\n$ echo done\ndone\n")
    assert found == 6
    assert not any(line in output for line in LINES)
    assert output.endswith("$ echo done\ndone\n")
    hunk = "--- a/conf/app.txt\n+++ b/conf/app.txt\n@@ -20,7 +20,7 @@\n" + "\n".join(" " + line for line in LINES[6:9])
    hunk += "\n-old\n+new\n" + "\n".join(" " + line for line in LINES[9:12]) + "\n"
    clean, _ = redact_diff(hunk)
    assert not any(line in clean for line in LINES)
    assert "-old\n+new" in clean
