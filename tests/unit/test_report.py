"""`responder report`: the figures on hand-built mentions, the deployed read path (no Scan), the files it writes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.stub import ANY, Stubber
import boto3

from responder_cli import report
from responder_cli.main import build_parser

T0 = "2026-12-01T10:00:00Z"


def _mention(mention_id: str, answered_after: float | None = None, **fields) -> dict:
    mention = {"channel": "x", "mention_id": mention_id, "status": "notified", "team": "support",
               "priority": "normal", "sentiment": "neutral", "created_at": T0, "received_at": T0}
    if answered_after is not None:
        at = datetime.fromisoformat(T0.replace("Z", "+00:00")).timestamp() + answered_after
        mention["first_response_at"] = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        mention["status"] = "answered"
    mention.update(fields)
    return mention


def test_within_and_over_the_hour_missing_answers_breaches_and_archived_noise():
    # Given one answered in 10 minutes, one at exactly the hour, one after 2 hours, one never answered and breached,
    # and one archived (spam) mention answered quickly
    mentions = [_mention("1", 600), _mention("2", 3600), _mention("3", 7200, sla_breached_at="2026-12-01T11:00:00Z"),
                _mention("4", sla_breached_at="2026-12-01T11:00:00Z"),
                _mention("5", 5, status="archived", archive_reason="spam")]
    # When the report is computed
    figures = report.compute(mentions)
    # Then the archived one is counted apart and out of every rate
    assert figures["mentions"] == 4
    assert figures["archived"] == {"mentions": 1, "by_reason": {"spam": 1}}
    # And 3 are answered, 2 within the hour (3,600 s counts), 2 breaches, the share over all 4
    assert (figures["answered"], figures["answered_within_1h"], figures["sla_breaches"]) == (3, 2, 2)
    assert figures["share_within_1h"] == 0.5
    # And the percentiles are over the answered ones (600, 3600, 7200 s; linear interpolation)
    assert figures["first_response_seconds"] == {"p50": 3600.0, "p90": 6480.0}


def test_first_response_counts_from_the_post_or_from_receipt_when_the_post_time_is_later_or_missing():
    # Given a post created 30 minutes before Responder received it, answered 40 minutes after receipt
    early = _mention("1", 2400, created_at="2026-12-01T09:30:00Z")
    # Then its first response is 70 minutes (counted from the post): over the hour
    assert report.first_response_seconds(early) == 4200
    # Given a platform clock ahead of ours (created after received) or no created_at: counted from receipt
    ahead = _mention("2", 60, created_at="2026-12-01T10:05:00Z")
    missing = _mention("3", 60)
    del missing["created_at"]
    assert report.first_response_seconds(ahead) == 60
    assert report.first_response_seconds(missing) == 60
    # Given no answer: None
    assert report.first_response_seconds(_mention("4")) is None


def test_breakdowns_per_team_priority_and_complaints():
    # Given two teams and priorities, a negative mention answered late
    mentions = [_mention("1", 60, team="billing", priority="high"),
                _mention("2", 5000, team="support", priority="high", sentiment="negative"),
                _mention("3", team="support", priority="low", sentiment="negative",
                         sla_breached_at="2026-12-01T10:30:00Z")]
    figures = report.compute(mentions)
    # Then each team and priority has its own figures
    assert figures["by_team"]["billing"]["share_within_1h"] == 1.0
    assert figures["by_team"]["support"]["mentions"] == 2
    assert figures["by_team"]["support"]["answered_within_1h"] == 0
    assert figures["by_team"]["support"]["sla_breaches"] == 1
    assert figures["by_priority"]["high"]["answered"] == 2
    assert figures["by_priority"]["low"]["first_response_seconds"] == {"p50": None, "p90": None}
    # And the complaints (negative sentiment) are measured against the 72% expectation
    assert figures["complaints"]["mentions"] == 2 and figures["complaints"]["share_within_1h"] == 0.0
    assert "72%" in report.headline(figures) and "53%" in report.headline(figures)


def test_the_period_keeps_mentions_received_from_since_up_to_until():
    # Given mentions received at 09:59:59, 10:00:00 and 11:00:00
    mentions = [_mention("a", received_at="2026-12-01T09:59:59Z"), _mention("b", received_at="2026-12-01T10:00:00Z"),
                _mention("c", received_at="2026-12-01T11:00:00Z")]
    # When the period is [10:00, 11:00)
    figures = report.compute(mentions, report.parse_time("2026-12-01T10:00:00Z"), report.parse_time("2026-12-01T11:00"))
    # Then only the 10:00 one is in
    assert figures["mentions"] == 1
    assert figures["period"]["first_received_at"] == "2026-12-01T10:00:00Z"
    with pytest.raises(ValueError):
        report.parse_time("yesterday")


def test_percentiles_interpolate():
    assert report.percentile([], 50) is None
    assert report.percentile([7.0], 90) == 7.0
    assert report.percentile([0.0, 10.0, 20.0, 30.0, 40.0], 50) == 20.0
    assert report.percentile([0.0, 10.0], 90) == 9.0


def test_files_are_written_pngs_and_hostile_text_is_escaped(tmp_path):
    # Given mentions whose team, incident and reason carry markup (and matplotlib's math markers)
    hostile = "<script>alert(1)</script>$\\frac{$"
    mentions = [_mention("1", 60, team=hostile, incident_id=f"inc-{hostile}"),
                _mention("2", 9000, priority="high", sentiment="negative", channel="facebook",
                         received_at="2026-12-01T12:00:00Z", incident_id=f"inc-{hostile}"),
                _mention("3", status="archived", archive_reason=hostile)]
    # When the report is written
    figures = report.write(mentions, tmp_path / "out")
    # Then report.json holds the figures, report.html escapes every value, and each plot is a PNG
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["mentions"] == 2 and saved["answered_within_1h"] == 1 and saved["archived"]["mentions"] == 1
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert figures["plots"] == list(report.PLOTS)
    for name in report.PLOTS:
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f'src="{name}"' in page


def test_the_report_never_reads_the_text():
    # Given the deployed read's projection: private text (DMs) stays out of reports
    assert "text" not in report.FIELDS


def _key(n: int) -> dict:
    return {"pk": {"S": f"MENTION#x#{n}"}, "sk": {"S": "MENTION"}}


def _item(n: int) -> dict:
    return {"channel": {"S": "x"}, "mention_id": {"S": str(n)}, "status": {"S": "notified"},
            "received_at": {"S": "2026-12-01T10:00:00Z"}, "created_at": {"S": T0}}


def test_the_deployed_read_queries_gsi2_pages_and_batch_gets_never_scans():
    # Given a table whose period holds 150 mentions over two index pages, and one throttled batch
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    query = {"TableName": "T", "IndexName": "gsi2",
             "KeyConditionExpression": "gsi2pk = :pk AND gsi2sk BETWEEN :low AND :high",
             "ExpressionAttributeValues": {":pk": {"S": "ACCOUNT#brand"}, ":low": {"S": "2026-12-01T00:00:00Z"},
                                           ":high": {"S": "2026-12-02T00:00:00Z"}},
             "ProjectionExpression": "pk, sk"}
    stub.add_response("query", {"Items": [_key(n) for n in range(120)], "LastEvaluatedKey": _key(119)}, query)
    stub.add_response("batch_get_item", {"Responses": {"T": [_item(n) for n in range(90)]},
                                         "UnprocessedKeys": {"T": {"Keys": [_key(n) for n in range(90, 100)]}}},
                      {"RequestItems": {"T": {"Keys": [_key(n) for n in range(100)], "ProjectionExpression": ANY,
                                              "ExpressionAttributeNames": ANY}}})
    stub.add_response("batch_get_item", {"Responses": {"T": [_item(n) for n in range(90, 100)]}},
                      {"RequestItems": {"T": {"Keys": [_key(n) for n in range(90, 100)],
                                              "ProjectionExpression": ANY, "ExpressionAttributeNames": ANY}}})
    stub.add_response("query", {"Items": [_key(n) for n in range(120, 150)]},
                      {**query, "ExclusiveStartKey": _key(119)})
    stub.add_response("batch_get_item", {"Responses": {"T": [_item(n) for n in range(100, 150)]}},
                      {"RequestItems": {"T": {"Keys": [_key(n) for n in range(100, 150)], "ProjectionExpression": ANY,
                                              "ExpressionAttributeNames": ANY}}})
    lines, waits = [], []
    reader = report.TableReader("T", client, progress=lines.append, sleep=waits.append)
    # When the period's mentions are read (progress every 100 for the test)
    with stub, pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "PROGRESS_EVERY", 100)
        # One gsi2 partition here (the paging is the point); tests/integration/test_report_table.py reads them all
        patch.setattr(report, "BRAND_PARTITIONS", ["ACCOUNT#brand"])
        found = reader.mentions(report.parse_time("2026-12-01"), report.parse_time("2026-12-02"))
        # Then exactly these calls were made (a Scan or any other call would fail the stubber)
        stub.assert_no_pending_responses()
    assert sorted(int(m["mention_id"]) for m in found) == list(range(150))
    # And the throttled keys were retried after a back-off, and progress was shown
    assert waits == [0.05]
    assert lines == ["read 100 mentions ...", "read 150 mentions"]


def test_the_stack_table_comes_from_its_outputs():
    client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("describe_stacks", {"Stacks": [{
            "StackName": "Responder", "CreationTime": datetime(2026, 1, 1), "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "TableName", "OutputValue": "Responder-Table"}]}]}, {"StackName": "Responder"})
        assert report.table_of_stack("Responder", client) == "Responder-Table"


def test_the_command_line_takes_a_source_a_period_and_an_output_directory():
    args = build_parser().parse_args(["report", "--stack", "Responder", "--since", "2026-12-01", "--out", "r"])
    assert (args.stack, args.since, args.until, args.out) == ("Responder", "2026-12-01", None, "r")
    assert build_parser().parse_args(["report", "--out", "r"]).url == report.DEFAULT_URL
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "--url", "http://127.0.0.1:1", "--stack", "S", "--out", "r"])


def test_the_command_reads_the_local_stack_over_http_and_prints_the_headline(tmp_path, capsys):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from responder_cli.main import main

    # Given a local stack answering GET /local/mentions with three mentions: two answered in time, one breached
    body = json.dumps([_mention("1", 60), _mention("2", 120, channel="facebook"),
                       _mention("3", sla_breached_at="2026-12-01T11:00:00Z")]).encode()
    paths = []

    class Mentions(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            paths.append(self.path)
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Mentions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # When `responder report --url ... --out DIR` runs
        status = main(["report", "--url", f"http://127.0.0.1:{server.server_address[1]}", "--out", str(tmp_path)])
    finally:
        server.shutdown()
    # Then it read the local stack's mentions, printed the headline and wrote the report
    out = capsys.readouterr().out
    assert status == 0 and paths == ["/local/mentions"]
    assert "Answered within the hour: 67% of 3 mentions (2 of 2 answered)" in out and "53%" in out
    saved = json.loads((tmp_path / "report.json").read_text())
    assert (saved["mentions"], saved["answered"], saved["answered_within_1h"], saved["sla_breaches"]) == (3, 2, 2, 1)
