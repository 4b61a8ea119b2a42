"""`responder forget` and `responder export` against `responder local` as a process: two people on X, one forgotten,
the other intact; the forgotten person's review links answer 410 without content and send nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.e2e.local_process import REPO, local_process
from tests.e2e.test_review_flow import SECRETS, form_nonce, notification_for, post_x, wait_for, x_mention

pytestmark = pytest.mark.slow

DANA, OMAR = "2000000000000000771", "2000000000000000772"
DANA_POSTS = {"4400000000000000701": "@AcmeSupport parcel 701 lost, my flat is 4B on Elm Street",
              "4400000000000000702": "@AcmeSupport still no refund for parcel 701, call me on 0170 555"}
OMAR_POST = ("4400000000000000703", "@AcmeSupport my order 703 arrived broken")


@pytest.fixture(scope="module")
def stack():
    with local_process(SECRETS, ["--outbox", ""]) as (base, _process):
        yield base


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "responder_cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def stored(base: str) -> dict[str, dict]:
    return {m["mention_id"]: m for m in requests.get(f"{base}/local/mentions", timeout=30).json()}


def test_forget_erases_one_person_and_keeps_the_other(stack, tmp_path):
    base = stack
    # Given two mentions by Dana and one by Omar, notified to the agents
    for post_id, text in DANA_POSTS.items():
        post_x(base, x_mention(post_id, text, DANA))
    post_x(base, x_mention(*OMAR_POST, OMAR))
    links = {pid: notification_for(base, pid)["actions"]["review_url"] for pid in [*DANA_POSTS, OMAR_POST[0]]}
    wait_for(lambda: all(stored(base)[p].get("status") == "notified" for p in links), what="three notified")

    # When Dana's data is exported
    before = cli("export", "--url", base, "--channel", "x", "--author-id", DANA, "--out", str(tmp_path / "a.json"))
    # Then the file holds her two mentions with their text and drafts, and nothing of Omar; no raw events, which the
    # default deployment does not keep (with `rawEventTtlDays` they are exported too: tests/integration/test_erasure.py)
    assert before.returncode == 0, before.stderr
    exported = json.loads((tmp_path / "a.json").read_text())
    assert {m["mention_id"]: m["text"] for m in exported["mentions"]} == DANA_POSTS
    assert all(m["draft_text"] and m["raw_event"] is None for m in exported["mentions"])
    assert OMAR not in json.dumps(exported) and OMAR_POST[0] not in json.dumps(exported)
    assert (tmp_path / "a.json").stat().st_mode & 0o077 == 0

    # When Dana is forgotten
    forgot = cli("forget", "--url", base, "--channel", "x", "--author-id", DANA)
    # Then the command names what it erased and exits 0
    assert forgot.returncode == 0, forgot.stderr
    assert "2 mention(s) erased" in forgot.stdout and "0 raw event(s) deleted" in forgot.stdout
    assert all(f"x:{pid}" in forgot.stdout for pid in DANA_POSTS)
    # and her mentions are tombstones without content, Omar's is intact
    now = stored(base)
    for pid in DANA_POSTS:
        assert now[pid]["status"] == "deleted" and now[pid]["deleted_by"] == "forget"
        assert not {"text", "author", "draft_text", "attachments"} & set(now[pid])
    assert now[OMAR_POST[0]]["text"] == OMAR_POST[1] and now[OMAR_POST[0]]["status"] == "notified"
    listed = json.dumps(requests.get(f"{base}/local/mentions", timeout=30).json())
    assert "Elm Street" not in listed and "0170 555" not in listed

    # And her review link answers 410 without her words, and Send refuses and sends nothing
    page = requests.get(links["4400000000000000701"], timeout=30)
    assert page.status_code == 410 and "Elm Street" not in page.text and "parcel" not in page.text
    refused = requests.post(links["4400000000000000701"], timeout=30, allow_redirects=False,
                            data={"nonce": "x" * 32, "text": "Sorry!", "action": "send", "agent": "jamie"})
    assert refused.status_code in (403, 410)
    # while Omar's link still opens his page
    assert requests.get(links[OMAR_POST[0]], timeout=30).status_code == 200

    # When her data is exported again, and she is forgotten again
    after = cli("export", "--url", base, "--channel", "x", "--author-id", DANA)
    again = cli("forget", "--url", base, "--channel", "x", "--author-id", DANA)
    # Then the export is empty and the second erasure finds nothing, still exit 0
    assert after.returncode == 0 and json.loads(after.stdout)["mentions"] == []
    assert again.returncode == 0 and "Nothing stored about author" in again.stdout
    assert requests.get(f"{base}/local/sent", timeout=30).json() == []


def test_an_erased_mentions_review_form_queues_nothing(stack):
    base = stack
    # Given a notified mention whose review page was opened (a valid nonce in hand)
    post_id = "4400000000000000711"
    post_x(base, x_mention(post_id, "@AcmeSupport my card was charged twice", "2000000000000000773"))
    link = notification_for(base, post_id)["actions"]["review_url"]
    # (the page has its form once triage has recorded the outcome, just after the notification is published)
    wait_for(lambda: stored(base)[post_id].get("status") == "notified", what="notified")
    nonce = form_nonce(requests.get(link, timeout=30).text)
    # When the author is forgotten and the agent then presses Send
    assert cli("forget", "--url", base, "--channel", "x", "--author-id", "2000000000000000773").returncode == 0
    answer = requests.post(link, timeout=30, allow_redirects=False,
                           data={"nonce": nonce, "text": "Refunded!", "action": "send", "agent": "jamie"})
    # Then the page refuses (gone), and no reply reaches the platform
    assert answer.status_code == 410 and "charged twice" not in answer.text
    assert [s for s in requests.get(f"{base}/local/sent", timeout=30).json() if s["in_reply_to"] == post_id] == []
    assert stored(base)[post_id].get("reply_state") is None

