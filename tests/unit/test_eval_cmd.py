"""`responder eval`: a table per task from whatever data is present, notes for what is missing."""

from __future__ import annotations

import argparse
import io

from responder_cli import eval_cmd


def _write_tweeteval(root, task, texts, labels):
    folder = root / "tweeteval" / task
    folder.mkdir(parents=True)
    (folder / "val_text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (folder / "val_labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")


def _run(data, language_set=None):
    out = io.StringIO()
    args = argparse.Namespace(data=data, language_set=language_set or eval_cmd.DEFAULT_LANGUAGE_SET, limit=0)
    code = eval_cmd.run(args, stdout=out)
    return code, out.getvalue()


def test_eval_reports_present_tasks_and_skips_missing_ones(tmp_path):
    # Given only a small TweetEval sentiment split written for this test
    _write_tweeteval(tmp_path, "sentiment", ["I love this so much!", "this is terrible and sad", "the bus is at ten"],
                     ["2", "0", "1"])
    # When evaluated
    code, text = _run(tmp_path)
    # Then sentiment and language rows are printed and the missing tasks are noted
    assert code == 0
    assert "macro-recall, TweetEval val" in text and "language" in text
    assert "topic and Bitext intent skipped" in text and "offensive skipped" in text


def test_eval_topic_and_intent_from_bitext_and_twcs(tmp_path):
    # Given a two-row Bitext file and a TWCS thread, written for this test
    (tmp_path / "bitext").mkdir()
    (tmp_path / "bitext" / "bitext_dev.csv").write_text(
        "instruction,intent,category,tags\n"
        "where is my refund?,track_refund,REFUND,BIL\n"
        "I want to complain about your service,complaint,FEEDBACK,BL\n", encoding="utf-8")
    (tmp_path / "twcs").mkdir()
    (tmp_path / "twcs" / "sample.csv").write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,11,True,x,@acme my package is lost,2,\n"
        "2,acme,False,x,@11 so sorry to hear that,,1\n", encoding="utf-8")
    # When evaluated
    code, text = _run(tmp_path)
    # Then topic accuracy and per-class intent lines are printed
    assert code == 0
    assert "accuracy, Bitext dev" in text
    assert "intent per class" in text and "complaint from twcs: 1" in text and "question from bitext: 1" in text


def test_intent_set_labels_by_the_documented_procedure(tmp_path):
    (tmp_path / "twcs").mkdir()
    (tmp_path / "twcs" / "s.csv").write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,11,True,x,@acme you folks rock,2,\n"
        "2,acme,False,x,@11 glad you liked it,,1\n"
        "3,12,True,x,@acme hello,4,\n"
        "4,acme,False,x,@12 hi there,,3\n", encoding="utf-8")
    assert eval_cmd.intent_set(tmp_path) == [("@acme you folks rock", "praise", "twcs")]


def test_seeded_half_matches_the_training_script():
    from bench import train_models

    items = list(range(40))
    assert sorted(eval_cmd.seeded_half_b(40)) == sorted(train_models.halves(items)[1])


def test_intent_labels_the_customer_contradicts_are_dropped(tmp_path):
    # Given threads where the brand's reply and the customer's words agree, and two where they do not
    (tmp_path / "twcs").mkdir()
    (tmp_path / "twcs" / "s.csv").write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,11,True,x,@acme my parcel never came,2,\n"
        "2,acme,False,x,@11 so sorry about that,,1\n"
        "3,12,True,x,@acme thank you so much!,4,\n"
        "4,acme,False,x,@12 sorry for the wait earlier,,3\n"
        "5,13,True,x,@acme can you reset my password?,6,\n"
        "6,acme,False,x,@13 glad to help! check your DMs,,5\n"
        "7,14,True,x,@acme already fixed! thanks,8,9\n"
        "8,acme,False,x,@14 glad to hear it,,7\n", encoding="utf-8")
    # When the intent set is built
    items = eval_cmd.intent_set(tmp_path)
    # Then the apology to thanks and the "glad to help" to a question are dropped; follow-ups count too
    assert items == [("@acme my parcel never came", "complaint", "twcs"),
                     ("@acme already fixed! thanks", "praise", "twcs")]


def test_eval_scores_the_test_split_and_decodes_dataset_escapes(tmp_path, monkeypatch):
    # Given val and test splits, the test one with SemEval's literal comma escape
    _write_tweeteval(tmp_path, "sentiment", ["I love this so much!", "this is terrible and sad"], ["2", "0"])
    folder = tmp_path / "tweeteval" / "sentiment"
    (folder / "test_text.txt").write_text("great\\u002c really great\nawful\\u002c so sad\n", encoding="utf-8")
    (folder / "test_labels.txt").write_text("2\n0\n", encoding="utf-8")
    from responder.classification import classify as classify_module

    seen: list[str] = []
    real = classify_module.classify
    monkeypatch.setattr(classify_module, "classify", lambda text, *a, **k: seen.append(text) or real(text, *a, **k))
    # When evaluated
    code, text = _run(tmp_path)
    # Then both splits get a row, the test row carries the published references, and texts were decoded
    assert code == 0
    assert "macro-recall, TweetEval val" in text and "macro-recall, TweetEval test" in text
    assert "RoBERTa-base 0.71" in text
    assert "great, really great" in seen and not any("\\u002c" in t for t in seen)


def test_latency_reports_mean_median_and_99th_percentile():
    # Given 100 timings of 1..100 ms
    # Then mean, p50 and p99 are those of the list (nearest rank)
    assert eval_cmd.latency([float(x) for x in range(1, 101)]) == "50.500 50.000 99.000"


def test_macro_recalls_interval_holds_the_figure_and_narrows_with_more_texts():
    # Given predictions that recall 80% of each of three classes, on 300 texts and on 3,000
    def sample(n):
        expected = [("negative", "neutral", "positive")[i % 3] for i in range(n)]
        predicted = [e if i % 5 else "neutral" if e != "neutral" else "positive" for i, e in enumerate(expected)]
        return expected, predicted

    small, large = sample(300), sample(3000)
    assert eval_cmd.macro_recall(*small) == eval_cmd.macro_recall(*large) == 0.8
    # When their intervals are drawn
    low_s, high_s = eval_cmd.macro_recall_interval(*small)
    low_l, high_l = eval_cmd.macro_recall_interval(*large)
    # Then each holds the figure, the larger sample's is about a third as wide (√10), and a run repeats
    assert low_s < 0.8 < high_s and low_l < 0.8 < high_l
    assert 0.2 < (high_l - low_l) / (high_s - low_s) < 0.5
    assert eval_cmd.macro_recall_interval(*small) == (low_s, high_s)
    # And perfect predictions have no spread
    assert eval_cmd.macro_recall_interval(small[0], small[0]) == (1.0, 1.0)


def test_the_sentiment_detail_line_gives_the_interval(tmp_path):
    _write_tweeteval(tmp_path, "sentiment", ["I love this so much!", "this is terrible and sad", "the bus is at ten"],
                     ["2", "0", "1"])
    code, text = _run(tmp_path)
    assert code == 0 and "macro-recall's 95% interval" in text and "bootstrap resamples of the 3 tweets" in text
