"""The single table: key schema, index, TTL, billing, recovery and encryption."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra import constants as c


def test_table_has_single_table_key_schema_and_gsi1(template):
    # Given the synthesised stack
    # When the DynamoDB table is inspected
    # Then it uses pk/sk strings and one gsi1 index over gsi1pk/gsi1sk projecting what is written once
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": c.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": c.TABLE_SORT_KEY, "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": Match.array_with(
                [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                    {"AttributeName": "gsi1pk", "AttributeType": "S"},
                    {"AttributeName": "gsi1sk", "AttributeType": "S"},
                    {"AttributeName": "gsi2pk", "AttributeType": "S"},
                    {"AttributeName": "gsi2sk", "AttributeType": "S"},
                ]
            ),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE",
                                   "NonKeyAttributes": ["mention_id", "created_at", "kind", "author", "text"]},
                },
                {
                    # the brand's recent mentions, for surge clustering: only what clustering reads
                    "IndexName": "gsi2",
                    "KeySchema": [
                        {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE",
                                   "NonKeyAttributes": ["mention_id", "channel", "text"]},
                },
                {
                    # sparse, keys only: a person's mentions on a channel, for erasure and export
                    "IndexName": "gsi4",
                    "KeySchema": [
                        {"AttributeName": "gsi4pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi4sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
        },
    )


def test_table_is_on_demand_with_ttl_pitr_and_encryption(template):
    # Given the synthesised stack
    # When the table's operational settings are inspected
    # Then raw events expire via expires_at, billing is on demand, PITR and SSE are on
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
        },
    )


def test_table_survives_stack_deletion_and_replacement(template):
    # Given the synthesised stack
    # When the table's lifecycle policies are inspected
    # Then CloudFormation retains it on delete and on replacement
    template.has_resource(
        "AWS::DynamoDB::Table",
        {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
    )
