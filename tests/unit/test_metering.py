"""The demo's meter: what each recorded call adds, and how the cost table prices it."""

from __future__ import annotations

import pytest

from responder_cli.local.metering import PRICE, Meter, item_kind, item_kinds


def key(pk, sk):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@pytest.mark.parametrize(("pk", "sk", "kind"), [
    ("MENTION#x#1", "MENTION", "mention"), ("MENTION#x#1", "RAW", "raw"), ("THREAD#x#9", "THREAD", "thread"),
    ("COUNTER#brand", "MINUTE#000000029000", "counter"), ("MENTION#x#1", "COUNTED", "count_marker"),
    ("INCIDENT#brand", "inc-1", "incident"), ("INCIDENT#inc-1", "MEMBER#x#1", "incident_member"),
])
def test_items_are_named_by_their_key(pk, sk, kind):
    # Given a key of the table's layout / When it is named / Then the kind of item is said
    assert item_kind(key(pk, sk)) == kind


def test_a_transaction_names_every_item_it_writes():
    # Given the ingest transaction's three items / When named / Then all three kinds are listed in order
    params = {"TransactItems": [{"Put": {"Item": key("MENTION#x#1", "MENTION")}},
                                {"Put": {"Item": key("MENTION#x#1", "RAW")}},
                                {"Update": {"Key": key("THREAD#x#1", "THREAD")}}]}
    assert item_kinds("TransactWriteItems", params) == "mention+raw+thread"


def test_index_units_are_kept_apart_from_the_table_s():
    # Given an UpdateItem that DynamoDB reports as 2 table units and 3 on gsi1
    meter = Meter()
    meter.record("dynamodb", "UpdateItem", {"ConsumedCapacity": {
        "CapacityUnits": 5.0, "Table": {"CapacityUnits": 2.0},
        "GlobalSecondaryIndexes": {"gsi1": {"CapacityUnits": 3.0}}}}, {"Key": key("MENTION#x#1", "MENTION")})
    # Then the total is 5 and the breakdown says where each unit went
    assert meter.write_units == 5.0
    assert meter.index_write_units() == {"table": 2.0, "gsi1": 3.0}
    ((kind, operation, _), (calls, table, indexes)), = meter.writes.items()
    assert (kind, operation, calls, table, dict(indexes)) == ("mention", "UpdateItem", 1, 2.0, {"gsi1": 3.0})


def test_every_sla_timer_is_priced_as_the_scheduled_invocation_it_becomes():
    # Given two CreateSchedule calls and one GetSchedule
    meter = Meter()
    for operation in ("CreateSchedule", "CreateSchedule", "GetSchedule"):
        meter.record("scheduler", operation, {})
    # Then two scheduled invocations are priced
    scheduler = meter.breakdown()["scheduler"]
    assert scheduler["invocations"] == 2
    assert scheduler["cost"] == pytest.approx(2 * PRICE["scheduler_invocation"])


def test_lambda_is_billed_for_as_long_as_the_cpu_time_lasts_at_the_functions_share_of_a_vcpu():
    # Given 100 ms of CPU time on a whole core in a function of 512 MB, and as much in one of 3,008 MB
    meter = Meter(function_memory_mb={"classify": 512, "big": 3008})
    meter.lambda_call("classify", 100.0)
    # Then the 512 MB function, with 512/1,769 of a vCPU, takes 1,769/512 times longer: billed 0.1769 GB-s, as much
    # as a CPU-bound handler at any memory up to 1,769 MB
    assert meter.lambda_gb_seconds() == pytest.approx(0.1 * 1769 / 1024)
    # And above 1,769 MB a function has a whole vCPU (and more): the time is the CPU time
    meter.lambda_call("big", 100.0)
    assert meter.lambda_gb_seconds() == pytest.approx(0.1 * 1769 / 1024 + 0.1 * 3008 / 1024)


def test_an_express_execution_lasts_as_long_as_its_states_and_its_share_of_the_task_functions():
    # Given two executions whose interpreter threads took 5 ms each, and 40 ms of Classify CPU time (512 MB) in all
    meter = Meter(function_memory_mb={"classify": 512, "webhook": 512})
    meter.execution_finished(5.0, 10)
    meter.execution_finished(5.0, 10)
    meter.lambda_call("classify", 40.0)
    meter.lambda_call("webhook", 1000.0)  # not a task function: no execution waits for it
    # Then each lasts 5 ms plus half of Classify's 138 ms deployed (40 ms at 512/1,769 of a vCPU): 74 ms, billed as
    # 100 ms; and with ten times the task time, 5 + 691 ms, billed as 700 ms each
    assert meter.express_billed_ms() == 200.0
    meter.lambda_call("classify", 360.0)
    assert meter.express_billed_ms() == 1400.0


def test_a_batch_execution_measured_with_its_tasks_is_billed_as_measured_and_takes_no_share_of_other_tasks():
    # Given one batch execution measured whole: 20 ms of states and its slowest mention's 480 ms of tasks (it held
    # 900 ms of task functions' deployed time in all, its mentions side by side); and one measured without its tasks
    meter = Meter(function_memory_mb={"classify": 512})
    meter.lambda_call("classify", 900.0 * 512 / 1769 + 100.0 * 512 / 1769)  # 900 ms deployed, and 100 ms more
    meter.execution_finished(500.0, 40, task_ms=900.0)
    meter.execution_finished(5.0, 10)
    # Then the batch is billed its 500 ms (not the 900 ms sum of its mentions), and the other its states plus the
    # 100 ms of task time no execution holds: 105 ms, billed as 200 ms
    assert meter.execution_durations_ms() == pytest.approx([500.0, 105.0])
    assert meter.express_billed_ms() == 700.0


def test_the_dispatcher_is_billed_the_executions_it_waits_for():
    # Given a dispatcher of 256 MB that ran two batches, 1 ms of its own CPU each, and two executions of 50 ms of
    # interpreter time with 40 ms of Classify CPU time in all (138 ms deployed at 512 MB: 69 ms each)
    meter = Meter(function_memory_mb={"dispatcher": 256, "classify": 512})
    meter.lambda_call("dispatcher", 1.0)
    meter.lambda_call("dispatcher", 1.0)
    meter.lambda_call("classify", 40.0)
    meter.execution_finished(50.0, 10)
    meter.execution_finished(50.0, 10)
    # Then each dispatcher invocation is billed its CPU at its share of a vCPU and the average execution's 119 ms
    dispatcher = 2 * (1.0 * 1769 / 256 + 50.0 + 40.0 * 1769 / 512 / 2) / 1000 * 256 / 1024
    assert meter.lambda_gb_seconds() == pytest.approx(dispatcher + 0.040 * 1769 / 1024)


class _Env:
    """What the local stack reads of moto's evaluation environment: the execution's id in the context object."""

    def __init__(self, arn: str) -> None:
        from types import SimpleNamespace

        self.states = SimpleNamespace(context_object=SimpleNamespace(
            context_object_data={"Execution": {"Id": arn}}))


def test_a_batch_execution_lasts_its_own_states_and_its_slowest_mention():
    from responder_cli.local.triage import InProcessLambdas

    # Given a batch execution: 3 ms of its own states (the Map), two mentions side by side with 10 and 20 ms of states,
    # the first waiting on 100 ms of Classify and the second on 50 ms of Draft (whole vCPU functions: CPU time is
    # deployed time), and a webhook call that no execution waits for
    meter = Meter(function_memory_mb={"classify": 1769, "draft": 1769, "webhook": 1769})
    lambdas = InProcessLambdas({}, {}, lambda name: None, meter=meter)
    env = _Env("arn:aws:states:us-east-1:123456789012:execution:Triage:batch-1")
    lambdas._states_cpu(env, {"items": [{"key": {"mention_id": "1"}}, {"key": {"mention_id": "2"}}]}, 3.0)
    lambdas._states_cpu(env, {"key": {"mention_id": "1"}, "attempt": 1, "claim": "m1"}, 10.0)
    lambdas._states_cpu(env, {"key": {"mention_id": "2"}, "attempt": 1, "claim": "m2"}, 20.0)
    lambdas._task_time("classify", {"key": {"mention_id": "1"}, "claim": "m1"}, 100.0)
    lambdas._task_time("draft", {"mention": {"mention_id": "2"}, "classification": {}}, 50.0)
    lambdas._task_time("webhook", {"key": {"mention_id": "2"}}, 1000.0)
    # When it ends, 2 ms in its own thread
    duration, tasks = lambdas.execution_duration_ms(env.states.context_object.context_object_data["Execution"]["Id"],
                                                    2.0)
    # Then it lasted its own 5 ms and its slowest mention's 110 ms (not the 180 ms of both), holding 150 ms of tasks
    assert (duration, tasks) == (115.0, 150.0)
    # And nothing of it is kept once accounted for
    assert lambdas._clock == {} and lambdas._task_ms == {}
