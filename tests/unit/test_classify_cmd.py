"""`responder classify`: JSON lines in, JSON lines out, bad lines reported without a crash."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

from responder_cli import classify_cmd

REPO = Path(__file__).resolve().parents[2]
OUTPUT_KEYS = {"language", "sentiment", "intent", "topic", "priority", "reasons", "team", "noise", "noise_reason",
               "abusive"}


def run_lines(lines: list[str], *argv: str) -> tuple[int, list[dict], str]:
    """Run `responder classify` through run() with in-memory streams."""
    parser = argparse.ArgumentParser()
    classify_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["classify", *argv])
    stdout, stderr = io.StringIO(), io.StringIO()
    code = args.func(args, stdin=io.StringIO("".join(line + "\n" for line in lines)), stdout=stdout, stderr=stderr)
    return code, [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue()


def test_classifies_each_line_and_passes_the_id_through():
    # Given two mentions, one with an id, author and channel
    lines = [
        json.dumps({"id": "m-1", "text": "@acme my refund still hasn't arrived, this is ridiculous",
                    "author": {"id": "7", "followers": 50_000}, "channel": "x", "extra": "ignored"}),
        json.dumps({"text": "@acme ¡gracias por todo, sois geniales!", "lang": "es"}),
    ]
    # When they go through `responder classify`
    code, out, _ = run_lines(lines)
    # Then each gets one output line with the documented keys, in order, and the id of its input
    assert code == 0 and len(out) == 2
    assert set(out[0]) == OUTPUT_KEYS | {"id"} and set(out[1]) == OUTPUT_KEYS
    assert out[0]["id"] == "m-1"
    assert (out[0]["intent"], out[0]["topic"], out[0]["priority"], out[0]["team"]) == ("complaint", "refund", "p2",
                                                                                         "billing")
    assert "high reach: 50,000 followers" in out[0]["reasons"]
    assert (out[1]["language"], out[1]["sentiment"], out[1]["intent"]) == ("es", "positive", "praise")


def test_invalid_lines_become_error_lines_and_a_non_zero_exit():
    # Given a valid line, a broken one, a blank one, a JSON list and an object without text
    lines = [json.dumps({"text": "@acme where is my parcel?"}), "{not json", "", "[1, 2]", json.dumps({"id": 5}),
             json.dumps({"text": "@acme ok", "author": "bob"})]
    # When they are classified
    code, out, err = run_lines(lines)
    # Then every input line but the blank one has an output line, errors carry their line numbers, and it exits 1
    assert code == 1
    assert out[0]["topic"] == "delivery"
    assert [o.get("line") for o in out[1:]] == [2, 4, 5, 6]
    assert out[1]["error"].startswith("invalid JSON")
    assert out[2]["error"] == "each line must be a JSON object"
    assert out[3]["error"] == "missing text (a string)"
    assert out[4]["error"] == "author must be an object"
    assert "4 invalid line(s)" in err


def test_rules_file_overrides_the_routing(tmp_path):
    # Given rules that send Spanish mentions to their own team and make @chef a VIP
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"teams": {"care_es": "Spanish"}, "language_teams": {"es": "care_es"},
                                 "vip": {"handles": ["chef"]}}), encoding="utf-8")
    lines = [json.dumps({"text": "¿dónde está mi pedido?"}),
             json.dumps({"text": "what time do you open?", "author": {"id": "1", "handle": "@Chef"}})]
    # When classified with --rules
    code, out, _ = run_lines(lines, "--rules", str(rules))
    # Then the overridden rules apply
    assert code == 0
    assert out[0]["team"] == "care_es"
    assert (out[1]["priority"], out[1]["team"]) == ("p1", "escalations")


def test_bad_rules_file_is_a_clear_error(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"topic_teams": {"refund": "nobody"}}), encoding="utf-8")
    code, out, err = run_lines([json.dumps({"text": "hi"})], "--rules", str(rules))
    assert code == 2 and out == []
    assert "topic_teams.refund" in err


def test_input_and_output_files(tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "@acme please unsubscribe me from the newsletter"}) + "\n",
                      encoding="utf-8")
    code, out, _ = run_lines([], "--input", str(source), "--output", str(target))
    assert code == 0 and out == []
    written = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert written == [{**written[0], "id": 1, "topic": "newsletter", "team": "care"}]
    missing_code, _, err = run_lines([], "--input", str(tmp_path / "absent.jsonl"))
    assert missing_code == 2 and "cannot read" in err


def test_module_runs_end_to_end_over_stdin_and_stdout():
    # Given the command run as a process, as a user would pipe into it
    lines = "\n".join([json.dumps({"id": "a", "text": "@acme my charger caught fire"}), "oops"]) + "\n"
    result = subprocess.run([sys.executable, "-m", "responder_cli.classify_cmd"], input=lines, capture_output=True,
                            text=True, cwd=REPO, timeout=60, check=False)
    # Then it prints one JSON line per input line and exits 1 because of the bad line
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1
    assert out[0]["id"] == "a" and out[0]["priority"] == "p1" and out[0]["team"] == "escalations"
    assert out[1] == {"error": out[1]["error"], "line": 2}


def test_text_format_reads_benchmark_lines_and_decodes_their_escapes(monkeypatch):
    from responder.classification import classify as classify_module

    seen: list[str] = []
    real = classify_module.classify

    def recording(text, **kwargs):
        seen.append(text)
        return real(text, **kwargs)

    monkeypatch.setattr(classify_module, "classify", recording)
    # Given two lines of a TweetEval-style text file, one with SemEval's literal comma escape and a blank line
    lines = ["I don\\u2019t like it\\u002c not at all", "", "what a great day"]
    # When classified as plain text
    code, out, _ = run_lines(lines, "--format", "text")
    # Then each post gets its line number, the escapes were read as the characters they stand for
    assert code == 0
    assert [row["line"] for row in out] == [1, 3]
    assert seen == ["I don’t like it, not at all", "what a great day"]
    assert out[0]["sentiment"] == "negative" and out[1]["sentiment"] == "positive"
    # And the same text sent as JSON keeps its backslashes (real posts are never decoded)
    from responder.classification.textmodel import decode_dataset_escapes

    assert decode_dataset_escapes("C:\\users") == "C:\\users"
    assert decode_dataset_escapes("a\\u002cb \\ud83d") == "a,b \\ud83d"
