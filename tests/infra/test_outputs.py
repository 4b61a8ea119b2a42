"""Stack outputs that operators and the e2e tests read."""

from __future__ import annotations

from infra import constants as c


def test_stack_publishes_every_output_key(template_dict):
    # Given the synthesised stack
    # When its outputs are listed
    outputs = template_dict["Outputs"]
    # Then exactly the documented keys are present
    assert set(outputs) == {
        c.OUTPUT_API_URL,
        c.OUTPUT_X_WEBHOOK_URL,
        c.OUTPUT_META_WEBHOOK_URL,
        c.OUTPUT_DATA_DELETION_URL,
        c.OUTPUT_TABLE_NAME,
        c.OUTPUT_QUEUE_URL,
        c.OUTPUT_DLQ_URL,
        c.OUTPUT_SECRET_ARN,
        c.OUTPUT_STATE_MACHINE_ARN,
        c.OUTPUT_AGENT_TOPIC_ARN,
        c.OUTPUT_ESCALATION_TOPIC_ARN,
        c.OUTPUT_INCIDENT_TOPIC_ARN,
        c.OUTPUT_ALARM_TOPIC_ARN,
        c.OUTPUT_OUTBOUND_QUEUE_URL,
        c.OUTPUT_OUTBOUND_DLQ_URL,
        c.OUTPUT_DASHBOARD_NAME,
    }
    assert set(outputs) == {
        "ApiUrl",
        "XWebhookUrl",
        "MetaWebhookUrl",
        "MetaDataDeletionUrl",
        "TableName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "SecretArn",
        "StateMachineArn",
        "AgentTopicArn",
        "EscalationTopicArn",
        "IncidentTopicArn",
        "DashboardName",
        "AlarmTopicArn",
        "OutboundQueueUrl",
        "OutboundDeadLetterQueueUrl",
    }


def test_outputs_point_at_the_stack_resources(synthesized):
    # Given the synthesised stack
    stack, outputs = synthesized.stack, synthesized.template_dict["Outputs"]
    # When the output values are inspected
    # Then each refers to the resource it names
    assert outputs["TableName"]["Value"] == {"Ref": synthesized.logical_id(stack.storage.table)}
    assert outputs["QueueUrl"]["Value"] == {"Ref": synthesized.logical_id(stack.ingest.queue)}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": synthesized.logical_id(stack.ingest.dlq)}
    assert outputs["SecretArn"]["Value"] == {"Ref": synthesized.logical_id(stack.secrets.secret)}


def test_webhook_urls_extend_the_api_url_with_the_route_paths(template_dict):
    # Given the synthesised stack
    outputs = template_dict["Outputs"]
    api_parts = outputs["ApiUrl"]["Value"]["Fn::Join"][1]
    # When the webhook URLs are compared to the base URL
    x_parts = outputs["XWebhookUrl"]["Value"]["Fn::Join"][1]
    meta_parts = outputs["MetaWebhookUrl"]["Value"]["Fn::Join"][1]
    # Then they are the base URL (ending in "/") followed by the route path
    assert api_parts[-1] == "/"
    assert x_parts == api_parts[:-1] + ["/webhooks/x"]
    assert meta_parts == api_parts[:-1] + ["/webhooks/meta"]
