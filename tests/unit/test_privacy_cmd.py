"""`responder forget` / `responder export`: arguments, the local route calls, the deployed stack's table (Stubber)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from responder_cli import privacy_cmd
from responder_cli.main import build_parser, main


class FakeAnswer:
    def __init__(self, status: int, payload: Any) -> None:
        self.status_code, self._payload, self.text = status, payload, json.dumps(payload)

    def json(self) -> Any:
        return self._payload


class FakeSession:
    """What requests would send to `responder local`, and a canned answer."""

    def __init__(self, answer: FakeAnswer) -> None:
        self.answer, self.calls = answer, []

    def post(self, url: str, **kwargs: Any) -> FakeAnswer:
        self.calls.append(("POST", url, kwargs))
        return self.answer

    def get(self, url: str, **kwargs: Any) -> FakeAnswer:
        self.calls.append(("GET", url, kwargs))
        return self.answer


@pytest.mark.parametrize("args", [
    ["forget", "--channel", "x"],  # no author
    ["forget", "--author-id", "1"],  # no channel
    ["forget", "--channel", "myspace", "--author-id", "1"],
    ["forget", "--channel", "x", "--author-id", "two words"],
    ["forget", "--channel", "x", "--author-id", "x" * 257],
    ["forget", "--channel", "x", "--author-id", "1", "--url", "http://127.0.0.1:1", "--stack", "S"],
    ["export", "--channel", "whatsapp", "--author-id", ""],
])
def test_bad_arguments_exit_2_before_anything_runs(args, capsys):
    # Given a bad command line; When it is parsed; Then argparse exits 2 with a message
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2 and "error" in capsys.readouterr().err


def test_forget_posts_the_person_to_the_local_route_and_prints_what_was_erased(capsys):
    # Given a local stack that erased two mentions
    session = FakeSession(FakeAnswer(200, {"mentions": 2, "threads": 1, "raw_events": 2, "replies": 1,
                                           "incidents": 0, "tombstones_created": 0,
                                           "mention_ids": ["x:11", "x:12"]}))
    args = build_parser().parse_args(["forget", "--url", "http://127.0.0.1:9999/", "--channel", "x",
                                      "--author-id", "2000"])
    # When forget runs
    assert privacy_cmd.forget(args, session=session) == 0
    # Then it POSTed the person with the local-only header, and printed the counts and ids
    (method, url, kwargs), = session.calls
    assert (method, url) == ("POST", "http://127.0.0.1:9999/local/forget")
    assert kwargs["json"] == {"channel": "x", "author_id": "2000"} and kwargs["headers"]["X-Responder-Local"] == "1"
    out = capsys.readouterr().out
    assert "2 mention(s) erased" in out and "1 thread(s) cleaned" in out and "x:11" in out and "x:12" in out


def test_forget_says_when_nothing_was_stored(capsys):
    # Given a local stack that found nothing about the person
    session = FakeSession(FakeAnswer(200, {"mentions": 0, "threads": 0, "raw_events": 0, "replies": 0,
                                           "incidents": 0, "tombstones_created": 0, "mention_ids": []}))
    args = build_parser().parse_args(["forget", "--channel", "instagram", "--author-id", "17841"])
    # When forget runs; Then it exits 0 and says so
    assert privacy_cmd.forget(args, session=session) == 0
    assert "Nothing stored about author 17841 on instagram" in capsys.readouterr().out


def test_a_refusal_of_the_local_route_is_an_error_not_a_success():
    # Given a local stack answering 400
    session = FakeSession(FakeAnswer(400, {"error": "channel must be one of ..."}))
    args = build_parser().parse_args(["forget", "--channel", "x", "--author-id", "1"])
    # When forget runs; Then it raises (main prints it and exits 1) instead of printing "nothing erased"
    with pytest.raises(ValueError, match="400"):
        privacy_cmd.forget(args, session=session)


def test_export_writes_the_local_answer_to_a_private_file(tmp_path):
    # Given a local stack exporting one mention
    data = {"author_id": "2000", "channels": ["x"], "mentions": [{"mention_id": "11", "text": "hi"}],
            "threads": [], "incidents": []}
    session = FakeSession(FakeAnswer(200, data))
    out = tmp_path / "dana.json"
    args = build_parser().parse_args(["export", "--channel", "x", "--author-id", "2000", "--out", str(out)])
    # When export runs
    assert privacy_cmd.export(args, session=session) == 0
    # Then it asked with query parameters (a GET), and the file holds the JSON, readable by the user only
    (method, url, kwargs), = session.calls
    assert method == "GET" and url.endswith("/local/export")
    assert kwargs["params"] == {"channel": "x", "author_id": "2000"}
    assert json.loads(out.read_text()) == data and out.stat().st_mode & 0o777 == 0o600


def test_forget_on_a_stack_reads_the_table_name_from_its_outputs_and_queries_the_author_index(capsys):
    # Given a deployed stack whose TableName output names the table, and no mention by the person
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="k",
                                  aws_secret_access_key="s")
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(cloudformation) as cfn, Stubber(dynamodb) as ddb:
        cfn.add_response("describe_stacks", {"Stacks": [{
            "StackName": "Responder", "CreationTime": "2026-11-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "TableName", "OutputValue": "responder-table"}]}]},
            {"StackName": "Responder"})
        ddb.add_response("query", {"Items": [], "Count": 0, "ScannedCount": 0}, {
            "TableName": "responder-table", "IndexName": "gsi4", "KeyConditionExpression": "gsi4pk = :a",
            "ExpressionAttributeValues": {":a": {"S": "AUTHOR#x#2000"}}})
        args = build_parser().parse_args(["forget", "--stack", "Responder", "--channel", "x", "--author-id", "2000"])
        # When forget runs
        assert privacy_cmd.forget(args, cloudformation=cloudformation, client=dynamodb) == 0
        # Then it asked exactly those two things, and says nothing was stored
        cfn.assert_no_pending_responses()
        ddb.assert_no_pending_responses()
    assert "Nothing stored about author 2000 on x" in capsys.readouterr().out
