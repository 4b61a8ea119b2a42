"""`responder redrive`: move dead-lettered mentions back to the triage queue once the cause is fixed."""

from __future__ import annotations

from typing import Any

import requests


def add_parser(commands: Any) -> None:
    """Register `responder redrive`."""
    redrive = commands.add_parser("redrive", help="move dead-lettered mentions back to the triage queue")
    target = redrive.add_mutually_exclusive_group()
    target.add_argument("--url", default="http://127.0.0.1:8787", help="a running `responder local` (default)")
    target.add_argument("--stack", help="a deployed stack's name (uses your AWS credentials), e.g. Responder")
    redrive.set_defaults(func=run)


def run(args: Any) -> int:
    if args.stack:
        return _deployed(args.stack)
    answer = requests.post(f"{args.url.rstrip('/')}/local/redrive", headers={"X-Responder-Local": "1"}, timeout=60)
    answer.raise_for_status()
    print(f"moved {answer.json()['moved']} message(s) back to the triage queue", flush=True)
    return 0


def _deployed(stack: str) -> int:
    """SQS's own message move task, from the stack's DLQ to its triage queue (outputs name both)."""
    import boto3

    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    sqs = boto3.client("sqs")

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    task = sqs.start_message_move_task(SourceArn=arn(outputs["DeadLetterQueueUrl"]),
                                       DestinationArn=arn(outputs["QueueUrl"]))
    print(f"message move task started: {task['TaskHandle']}", flush=True)
    return 0
