"""`responder x-compliance`: X's batch compliance through tweepy and requests against the X stand-in, erasure on
DynamoDB Local. The stand-in speaks X API v2's documented wire format: job creation and status, the pre-signed
upload (`PUT`, one id per line) and the JSON-lines results."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

import pytest

from responder.core.model import Author, Mention
from responder.privacy.erasure import Eraser
from responder_cli import x_compliance
from responder_cli.local.standins import PlatformStandins
from responder_cli.report import TableReader

NOW = datetime.now(timezone.utc)
ACCOUNT = "1000000000000000001"
KEPT = Author(id="2100000000000000001", handle="kept_k", name="Kept Person")
GONE = Author(id="2100000000000000002", handle="gone_g", name="Gone Person")  # deactivated: every post goes
OTHER = Author(id="2100000000000000003", handle="other_o", name="Other Person")


def post(mention_id: str, author: Author, channel: str = "x") -> Mention:
    return Mention(platform="x" if channel == "x" else "meta", channel=channel, kind="mention", mention_id=mention_id,
                   thread_id=mention_id, author=author, text=f"@brand text of {mention_id} by {author.handle}",
                   created_at=(NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), account_id=ACCOUNT,
                   source="xaa", raw={"data": {"id": mention_id}})


@pytest.fixture
def standins():
    with PlatformStandins(x_user_id=ACCOUNT) as running:
        yield running


@pytest.fixture
def stored(store):
    # Given five stored X mentions by three people, and one Facebook comment by an id X also knows
    mentions = [post("3400000000000000001", KEPT), post("3400000000000000002", OTHER),
                post("3400000000000000003", GONE), post("3400000000000000004", GONE),
                post("3400000000000000005", KEPT), post("3400000000000000006", GONE, channel="facebook")]
    for mention in mentions:
        store.save(mention, NOW - timedelta(minutes=4))
    return mentions


def run_check(store, table_name, standins, **options):
    client = store.client
    mentions = TableReader(table_name, client=client, fields=x_compliance.FIELDS).mentions(
        NOW - timedelta(days=1), None)
    x = x_compliance.XCompliance("app-only-test-token", standins.base_url, sleep=lambda s: None)
    return x_compliance.check(mentions, x, Eraser(table_name, client=client), poll_seconds=1, **options)


def test_posts_x_reports_deleted_and_every_post_of_a_deactivated_author_are_erased(store, table_name, stored,
                                                                                   standins):
    # Given X reports one post deleted, one post geo-scrubbed and one author deactivated
    standins.mark_compliance("tweets", "3400000000000000002", "deleted")
    standins.mark_compliance("tweets", "3400000000000000005", "scrub_geo", action="scrub_geo")
    standins.mark_compliance("users", GONE.id, "deactivated")
    # When the compliance check runs
    outcome = run_check(store, table_name, standins)
    # Then X was asked about the five X posts and the three X authors, once each, in one job per type
    jobs = {job["type"]: job for job in standins.compliance_jobs()}
    assert sorted(jobs["tweets"]["ids"]) == sorted(m.mention_id for m in stored if m.channel == "x")
    assert sorted(jobs["users"]["ids"]) == sorted({KEPT.id, OTHER.id, GONE.id})
    assert outcome.checked == {"tweets": 5, "users": 3}
    # And the deleted post and the deactivated author's X posts are tombstones without their text
    for gone in ("3400000000000000002", "3400000000000000003", "3400000000000000004"):
        item = store.get_mention("x", gone)
        assert item["status"] == "deleted" and "text" not in item and item["deleted_by"].startswith("x.compliance.")
    assert store.get_mention("x", "3400000000000000002")["deleted_by"] == "x.compliance.deleted"
    assert store.get_mention("x", "3400000000000000003")["deleted_by"] == "x.compliance.deactivated"
    assert sorted(outcome.erased_mentions) == ["x:3400000000000000002", "x:3400000000000000003",
                                               "x:3400000000000000004"]
    # And the geo-scrubbed post, the kept person's posts and the same id's Facebook comment stay as they were
    for kept in ("3400000000000000001", "3400000000000000005"):
        assert store.get_mention("x", kept)["text"].startswith("@brand text of")
    assert store.get_mention("facebook", "3400000000000000006")["text"].startswith("@brand text of")
    assert outcome.actions[("tweets", "scrub_geo", "scrub_geo")] == 1


def test_a_second_run_does_not_ask_about_erased_posts_again(store, table_name, stored, standins):
    # Given a first run that erased a deleted post
    standins.mark_compliance("tweets", "3400000000000000002", "deleted")
    run_check(store, table_name, standins, types=("tweets",))
    # When the check runs again
    outcome = run_check(store, table_name, standins, types=("tweets",))
    # Then the tombstone is not sent to X again and nothing more is erased
    assert "3400000000000000002" not in standins.compliance_jobs()[-1]["ids"]
    assert outcome.checked["tweets"] == 4 and outcome.erased_mentions == []


def test_a_dry_run_asks_x_and_erases_nothing(store, table_name, stored, standins):
    # Given X reports a deleted post and a suspended author
    standins.mark_compliance("tweets", "3400000000000000002", "deleted")
    standins.mark_compliance("users", GONE.id, "suspended")
    # When the check runs with --dry-run
    outcome = run_check(store, table_name, standins, dry_run=True)
    # Then it says what it would erase, and every mention keeps its text
    assert outcome.erased_mentions == ["x:3400000000000000002"] and outcome.forgotten_authors == 1
    assert "would erase 1 mention(s)" in outcome.summary(dry_run=True)
    for mention in stored:
        assert "text" in store.get_mention(mention.channel, mention.mention_id)


def test_a_failed_job_stops_the_run_before_any_erasure(store, table_name, stored, standins, monkeypatch):
    # Given X reports a deleted post, but the job ends `failed`
    standins.mark_compliance("tweets", "3400000000000000002", "deleted")
    original = standins._compliance_job

    def failed(job):
        answer = original(job)
        return {**answer, "status": "failed"} if job["status"] == "in_progress" else answer

    monkeypatch.setattr(standins, "_compliance_job", failed)
    # When the check runs, Then it raises, and the post keeps its text
    with pytest.raises(x_compliance.ComplianceFailed, match="failed"):
        run_check(store, table_name, standins, types=("tweets",))
    assert "text" in store.get_mention("x", "3400000000000000002")


def test_a_job_still_running_at_the_timeout_gives_up_and_erases_nothing(store, table_name, stored, standins):
    # Given a job X keeps `in_progress`
    standins.compliance_polls_before_complete = 10**6
    standins.mark_compliance("tweets", "3400000000000000002", "deleted")
    clock = iter(range(0, 10**6, 30))
    x = x_compliance.XCompliance("app-only-test-token", standins.base_url, sleep=lambda s: None,
                                 clock=lambda: next(clock))
    mentions = TableReader(table_name, client=store.client, fields=x_compliance.FIELDS).mentions(None, None)
    # When the check runs with a 5-minute timeout, Then it gives up, and the post keeps its text
    with pytest.raises(x_compliance.ComplianceFailed, match="not complete after 300 s"):
        x_compliance.check(mentions, x, Eraser(table_name, client=store.client), types=("tweets",),
                           poll_seconds=30, timeout_seconds=300)
    assert "text" in store.get_mention("x", "3400000000000000002")


def test_results_naming_an_id_that_was_not_asked_about_are_refused(store, table_name, stored, standins,
                                                                  monkeypatch):
    # Given results that name a post Responder did not upload (a wrong file, or a tampered one)
    original = standins._compliance_storage

    def tampered(method, path, raw):
        code, data = original(method, path, raw)
        return (code, data + b'{"id":"3499999999999999999","action":"delete","reason":"deleted"}\n'
                if method == "GET" and code == 200 else data)

    monkeypatch.setattr(standins, "_compliance_storage", tampered)
    # When the check runs, Then it refuses the results and erases nothing
    with pytest.raises(x_compliance.ComplianceFailed, match="not asked about"):
        run_check(store, table_name, standins, types=("tweets",))
    assert all("text" in store.get_mention(m.channel, m.mention_id) for m in stored)


def test_user_context_tokens_are_refused_by_the_standin_as_by_x(standins):
    # Given a request signed with OAuth 1.0a user context, When it creates a compliance job
    import requests

    answer = requests.post(f"{standins.base_url}/2/compliance/jobs", json={"type": "tweets"}, timeout=5,
                           headers={"Authorization": 'OAuth oauth_consumer_key="ck", oauth_signature="sig"'})
    # Then X's answer is 403: batch compliance takes app-only authentication only; no job is created
    assert answer.status_code == 403 and standins.compliance_jobs() == []


def test_the_command_refuses_to_run_without_the_bearer_token_in_the_environment(monkeypatch, capsys):
    # Given no token in the environment, When the command runs, Then it exits 2 before reading anything
    monkeypatch.delenv(x_compliance.ENV_BEARER, raising=False)
    args = argparse.Namespace(stack="never-read", days=30, types=("tweets",), dry_run=False, poll_seconds=1,
                              timeout_minutes=1)
    assert x_compliance.run(args, cloudformation=object()) == 2
    assert x_compliance.ENV_BEARER in capsys.readouterr().err


def test_the_command_reads_the_stack_table_and_prints_what_it_erased(store, table_name, stored, standins, capsys):
    # Given a stack whose TableName output is the table, and X reporting one deleted post
    standins.mark_compliance("tweets", "3400000000000000004", "deleted")

    class Stacks:
        def describe_stacks(self, StackName):  # noqa: N803 - boto3's parameter name
            assert StackName == "responder-prod"
            return {"Stacks": [{"Outputs": [{"OutputKey": "TableName", "OutputValue": table_name}]}]}

    x = x_compliance.XCompliance("app-only-test-token", standins.base_url, sleep=lambda s: None)
    args = x_compliance_args("--stack", "responder-prod", "--types", "tweets", "--poll-seconds", "1")
    # When `responder x-compliance --stack responder-prod` runs
    assert x_compliance.run(args, cloudformation=Stacks(), client=store.client, x=x) == 0
    # Then it prints the counts and the erased mention, and the mention is a tombstone
    out = capsys.readouterr().out
    assert "Checked 5 stored X post(s)" in out and "x:3400000000000000004" in out
    assert store.get_mention("x", "3400000000000000004")["status"] == "deleted"


def x_compliance_args(*argv: str) -> argparse.Namespace:
    from responder_cli.main import build_parser

    return build_parser().parse_args(["x-compliance", *argv])


@pytest.mark.parametrize("argv", [["--types", "posts"], ["--days", "0"], ["--poll-seconds", "zero"], []])
def test_bad_arguments_exit_2(argv, capsys):
    # Given a bad option (or no --stack), When the command line is parsed, Then argparse exits 2
    with pytest.raises(SystemExit) as exit_info:
        x_compliance_args(*(["--stack", "s"] if argv else []), *argv)
    assert exit_info.value.code == 2


@pytest.mark.parametrize("url", ["http://127.0.0.1.attacker.example/upload", "http://example.com/upload",
                                 "ftp://127.0.0.1/upload", "https:///nohost"])
def test_a_job_whose_urls_would_send_ids_in_clear_text_elsewhere_is_refused(url):
    # Given a compliance job answer whose upload URL is not HTTPS nor this machine's loopback
    job = {"data": {"id": "1", "status": "created", "upload_url": url,
                    "download_url": "https://storage.example/download"}}
    # When it is read, Then it is refused before any id is uploaded
    with pytest.raises(x_compliance.ComplianceFailed, match="upload_url"):
        x_compliance._job(job)
    assert x_compliance._job({"data": {**job["data"], "upload_url": "https://storage.example/u"}})["id"] == "1"
