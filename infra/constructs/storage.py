"""The single DynamoDB table every function reads and writes."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import constants as c


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        self.table = dynamodb.Table(
            self,
            c.TABLE_ID,
            partition_key=dynamodb.Attribute(name=c.TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=c.TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
            # Mention volume is bursty and mostly idle; on-demand avoids paying for provisioned peaks.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            # Raw deliveries expire on their own; curated records simply omit the attribute.
            time_to_live_attribute=c.TABLE_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The AWS-managed key (aws/dynamodb) puts every key use in CloudTrail, which the default
            # AWS-owned key does not, without the monthly cost and key-policy upkeep of a customer key.
            # A customer key becomes worth it only for cross-account access or crypto-shredding.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # The table is the system of record for conversations; losing it to a stack delete or a
            # replacement is unrecoverable, so both guards are on.
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
        self.table.add_global_secondary_index(
            index_name=c.GSI1_NAME,
            partition_key=dynamodb.Attribute(name=c.GSI1_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=c.GSI1_SORT_KEY, type=dynamodb.AttributeType.STRING),
            # Only attributes written once: with ALL, each of a mention's five or so updates (queued, claimed,
            # triaged, replied) wrote its whole item to the index as well, about a third of the table's write
            # units (`responder demo`'s breakdown). What changes (the status) is read from the table item.
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(c.GSI1_ATTRIBUTES),
        )
        self.table.add_global_secondary_index(
            index_name=c.GSI2_NAME,
            partition_key=dynamodb.Attribute(name=c.GSI2_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=c.GSI2_SORT_KEY, type=dynamodb.AttributeType.STRING),
            # Surge clustering reads an account's recent mentions: only what it needs, and only what is written with
            # the mention, so triage's update (sentiment, topic, status) does not write the index a second time
            # (one write unit per mention; an incident reads its first members' sentiment from the table instead).
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=["mention_id", "channel", "text"],
        )
        self.table.add_global_secondary_index(
            index_name=c.GSI4_NAME,
            partition_key=dynamodb.Attribute(name=c.GSI4_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=c.GSI4_SORT_KEY, type=dynamodb.AttributeType.STRING),
            # Erasure and export find a person's mentions by author: keys only, so each stored mention costs one
            # index write of about 200 bytes (one write unit), and erasing it one more (the keys are removed).
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
