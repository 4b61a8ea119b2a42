"""The triage queue and its dead-letter queue."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra import constants as c


def test_triage_queue_redrives_to_dlq_after_five_receives(synthesized):
    # Given the synthesised stack
    queue = synthesized.resource(synthesized.stack.ingest.queue)
    dlq_id = synthesized.logical_id(synthesized.stack.ingest.dlq)
    # When the triage queue's redrive policy is inspected
    redrive = queue["Properties"]["RedrivePolicy"]
    # Then failing messages go to the DLQ after five receives
    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 5}


def test_triage_queue_visibility_is_six_times_the_consumer_timeout(synthesized):
    # Given the synthesised stack
    # When the triage queue is inspected
    queue = synthesized.resource(synthesized.stack.ingest.queue)
    # Then its visibility timeout leaves room for Lambda's retries (6 x 150 s)
    assert queue["Properties"]["VisibilityTimeout"] == 6 * c.TRIAGE_FUNCTION_TIMEOUT_SECONDS == 1080


def test_both_queues_are_encrypted_and_dlq_keeps_messages_14_days(synthesized):
    # Given the synthesised stack
    queue = synthesized.resource(synthesized.stack.ingest.queue)
    dlq = synthesized.resource(synthesized.stack.ingest.dlq)
    # When the queues are inspected
    # Then both use SQS-managed SSE and the DLQ retains messages for 14 days
    assert len(synthesized.resources("AWS::SQS::Queue")) == 4  # triage and outbound, each with its DLQ
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_both_queues_deny_requests_without_tls(template, synthesized):
    # Given the synthesised stack
    # When the queue policies are inspected
    # Then each queue has a policy denying sqs:* when aws:SecureTransport is false
    for queue in (synthesized.stack.ingest.queue, synthesized.stack.ingest.dlq):
        template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": synthesized.logical_id(queue)}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )
