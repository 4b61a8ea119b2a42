"""Names shared by the CDK app and its tests, so a rename cannot silently desynchronise them."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

STACK_NAME = "Responder"

# Construct ids: they seed CloudFormation logical ids, so changing one replaces the resource.
STORAGE_ID = "Storage"
TABLE_ID = "Table"
INGEST_QUEUE_ID = "IngestQueue"
TRIAGE_QUEUE_ID = "TriageQueue"
TRIAGE_DLQ_ID = "TriageDeadLetterQueue"
SECRETS_ID = "PlatformSecrets"
PLATFORM_SECRET_ID = "PlatformCredentials"
LAYERS_ID = "Layers"
DEPS_LAYER_ID = "DepsLayer"
DOMAIN_LAYER_ID = "DomainLayer"
WEBHOOK_API_ID = "WebhookApi"
WEBHOOK_FUNCTION_ID = "WebhookFunction"
HTTP_API_ID = "HttpApi"
HTTP_STAGE_ID = "DefaultStage"

# Stack output keys: operators and the e2e tests read these from `describe-stacks`.
OUTPUT_API_URL = "ApiUrl"
OUTPUT_X_WEBHOOK_URL = "XWebhookUrl"
OUTPUT_META_WEBHOOK_URL = "MetaWebhookUrl"
OUTPUT_DATA_DELETION_URL = "MetaDataDeletionUrl"
OUTPUT_TABLE_NAME = "TableName"
OUTPUT_QUEUE_URL = "QueueUrl"
OUTPUT_DLQ_URL = "DeadLetterQueueUrl"
OUTPUT_SECRET_ARN = "SecretArn"

# Table layout (single-table design); the domain code builds keys with the same attribute names.
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"
GSI1_NAME = "gsi1"
GSI1_PARTITION_KEY = "gsi1pk"
GSI1_SORT_KEY = "gsi1sk"
# What a thread's earlier messages show (responder.replies.claims): attributes set once, when a mention is stored, so
# an update of the mention (its status, its triage, its reply) never writes the index again.
GSI1_ATTRIBUTES = ("mention_id", "created_at", "kind", "author", "text")
GSI2_NAME = "gsi2"
GSI2_PARTITION_KEY = "gsi2pk"
GSI2_SORT_KEY = "gsi2sk"
# gsi3 (a sparse index of mentions not yet handed to triage, three write units per mention) was removed: the sweeper
# reads gsi2 by received time instead (responder.ingest.sweeper). The name is not reused, so a stack update drops it.
GSI4_NAME = "gsi4"
GSI4_PARTITION_KEY = "gsi4pk"
GSI4_SORT_KEY = "gsi4sk"
TABLE_TTL_ATTRIBUTE = "expires_at"

# Timeouts of the triage path, each outlasting what it waits for (issue #18): a task function < its task in the
# workflow < the workflow < the dispatcher that waits on it < the queue's visibility timeout.
# An on-demand invoke includes the function's INIT phase, which Lambda limits to 10 s (Lambda developer guide,
# "Lambda execution environment lifecycle"): a task's timeout is its function's plus that.
LAMBDA_INIT_ALLOWANCE_SECONDS = 10
# Express allows five minutes; a triage takes about a second. One attempt of each task (Classify, Draft with the
# routing rules) with its init allowance fits with room for the direct integrations, also with a model drafting
# (70 + 45 s): the outcome is recorded before the page, and a workflow timeout after that record, which no Catch sees,
# would leave the page to the SLA timer. An execution triages a whole batch, its mentions side by side (the Map's
# MaxConcurrency is the batch size), so it lasts as long as its slowest mention: the same bound holds.
TRIAGE_WORKFLOW_TIMEOUT_SECONDS = 150
# Time for the dispatcher to start its batch's execution, and to answer with the failed messages after it has ended.
DISPATCHER_MARGIN_SECONDS = 30
TRIAGE_FUNCTION_TIMEOUT_SECONDS = TRIAGE_WORKFLOW_TIMEOUT_SECONDS + DISPATCHER_MARGIN_SECONDS
# AWS recommends a visibility timeout of at least six times the consumer's timeout so that
# Lambda's retries with batching do not redeliver a message that is still being processed.
VISIBILITY_TIMEOUT_FACTOR = 6
TRIAGE_MAX_RECEIVE_COUNT = 5
# A mention is triaged within minutes or moved to the DLQ after five receives; four days is ample.
TRIAGE_RETENTION_DAYS = 4
DLQ_RETENTION_DAYS = 14

# Platform credentials: keys of the JSON secret the functions read.
SECRET_KEY_X_CONSUMER_SECRET = "x_consumer_secret"
SECRET_KEY_META_APP_SECRET = "meta_app_secret"
SECRET_KEY_META_VERIFY_TOKEN = "meta_verify_token"
PLATFORM_SECRET_KEYS = (SECRET_KEY_X_CONSUMER_SECRET, SECRET_KEY_META_APP_SECRET, SECRET_KEY_META_VERIFY_TOKEN)
# The reply tokens the sender reads from the same secret (responder.core.config.REPLY_SECRET_KEYS); absent or
# REPLACE_ME = that channel is not configured. Deliberately not in the generated template above: CloudFormation
# regenerates a secret whose GenerateSecretString changes, which would wipe the credentials operators pasted in.
REPLY_SECRET_KEYS = ("x_consumer_key", "x_access_token", "x_access_token_secret", "x_user_token", "x_user_id",
                     "meta_page_token", "meta_instagram_token", "whatsapp_token")

# Environment variables the domain code reads.
ENV_TABLE_NAME = "TABLE_NAME"
ENV_QUEUE_URL = "QUEUE_URL"
ENV_SECRET_ARN = "SECRET_ARN"
ENV_RAW_EVENT_TTL_DAYS = "RAW_EVENT_TTL_DAYS"
ENV_RETENTION_DAYS = "RETENTION_DAYS"
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

WEBHOOK_SERVICE_NAME = "responder-webhook"
DEFAULT_LOG_LEVEL = "INFO"

# Webhook routes: one GET (handshake) and one POST (delivery) per platform.
WEBHOOK_PATH_X = "/webhooks/x"
WEBHOOK_PATH_META = "/webhooks/meta"
WEBHOOK_ROUTE_KEYS = (
    f"GET {WEBHOOK_PATH_X}",
    f"POST {WEBHOOK_PATH_X}",
    f"GET {WEBHOOK_PATH_META}",
    f"POST {WEBHOOK_PATH_META}",
)
WEBHOOK_HANDSHAKE_ROUTE_KEYS = (f"GET {WEBHOOK_PATH_X}", f"GET {WEBHOOK_PATH_META}")
# Meta's Data Deletion Request Callback and its status page (responder.privacy.deletion_requests), served by the
# webhook function: the same app secret signs it.
DATA_DELETION_PATH = "/webhooks/meta/data-deletion"
DATA_DELETION_STATUS_PATH = "/webhooks/meta/data-deletion/{code}"
DATA_DELETION_ROUTE_KEYS = (f"POST {DATA_DELETION_PATH}", f"GET {DATA_DELETION_STATUS_PATH}")
# A person removing the app, or opening the status page Meta shows them: a person's pace. Guesses at confirmation codes
# (128 random bits) are capped too.
DEFAULT_DATA_DELETION_THROTTLE_BURST = 20
DEFAULT_DATA_DELETION_THROTTLE_RATE = 10

# CDK context keys (`cdk synth -c key=value`) and their defaults.
# The raw event's audit copy is kept only when asked for (days > 0): the stored mention holds every field triage,
# replies and erasure use, and a second copy of each person's post is one more write unit per mention and one more
# place personal data must be erased from (responder.core.config.DEFAULT_RAW_EVENT_TTL_DAYS reads the same default).
CONTEXT_RAW_EVENT_TTL_DAYS = "rawEventTtlDays"
DEFAULT_RAW_EVENT_TTL_DAYS = 0
# Mentions, threads and incidents expire through the table's TTL after this many days: a year of history for the
# yearly report plus a month's margin (responder.core.config.DEFAULT_RETENTION_DAYS reads the same default).
CONTEXT_RETENTION_DAYS = "retentionDays"
DEFAULT_RETENTION_DAYS = 400
CONTEXT_THROTTLE_BURST = "apiThrottleBurstLimit"
DEFAULT_THROTTLE_BURST = 2000
CONTEXT_THROTTLE_RATE = "apiThrottleRateLimit"
DEFAULT_THROTTLE_RATE = 1000
# The GET handshakes: X sends a CRC check when the webhook is registered and about hourly after, Meta one
# verification per subscription; these limits leave ample room for that and little for abuse.
CONTEXT_HANDSHAKE_THROTTLE_BURST = "apiHandshakeThrottleBurstLimit"
DEFAULT_HANDSHAKE_THROTTLE_BURST = 10
CONTEXT_HANDSHAKE_THROTTLE_RATE = "apiHandshakeThrottleRateLimit"
DEFAULT_HANDSHAKE_THROTTLE_RATE = 5

# DynamoDB actions each function's role holds on the table (read from the code each function runs).
# The webhook also erases (delete notices, Meta's data deletion callback: responder.privacy.erasure): DeleteItem removes
# the raw event of an erased mention.
WEBHOOK_TABLE_ACTIONS = ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                         "dynamodb:UpdateItem")
CLASSIFY_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")

# Lambda sizing shared by every function unless a function has a reason to differ.
FUNCTION_MEMORY_MB = 512
WEBHOOK_TIMEOUT_SECONDS = 10

# Asset locations, absolute so tests can synthesise from any working directory.
WEBHOOK_CODE_DIR = REPO_ROOT / "functions" / "webhook"
DOMAIN_LAYER_DIR = REPO_ROOT / "layers" / "responder"
DEPS_REQUIREMENTS_FILE = REPO_ROOT / "layers" / "deps" / "requirements.txt"
DEPS_LAYER_BUILD_DIR = REPO_ROOT / ".build" / "layers" / "deps"
DOMAIN_LAYER_BUILD_DIR = REPO_ROOT / ".build" / "layers" / "domain"
# The Classify function's own layer: numpy (pip, like the dependencies) and the sentiment encoder's weights, which
# it finds at /opt/responder-encoder (responder.classification.encoder.ENCODER_LAYER_FOLDER says the same).
ENCODER_LAYER_ID = "EncoderLayer"
ENCODER_REQUIREMENTS_FILE = REPO_ROOT / "layers" / "encoder" / "requirements.txt"
ENCODER_WEIGHTS_FILE = REPO_ROOT / "layers" / "encoder" / "sentiment_encoder.npz"
ENCODER_LAYER_BUILD_DIR = REPO_ROOT / ".build" / "layers" / "encoder"
ENCODER_LAYER_FOLDER = "responder-encoder"
ASSET_EXCLUDES = ("**/__pycache__", "**/*.pyc")

# Triage: the workflow, its functions and the notification topics.
TRIAGE_ID = "Triage"
NOTIFICATIONS_ID = "Notifications"
AGENT_TOPIC_ID = "AgentNotifications"
ESCALATION_TOPIC_ID = "Escalations"
INCIDENT_TOPIC_ID = "Incidents"
ALARMS_ID = "Alarms"
ALARM_TOPIC_ID = "OperationalAlarms"
# Also the alarms' names after the stack name (`Responder-DeadLetters`): their ARNs are granted before they exist.
DLQ_ALARM_ID = "DeadLetters"
BACKLOG_ALARM_ID = "TriageBacklog"
# The sweeper failing in most runs of a quarter of an hour: stranded mentions would stay stranded.
SWEEPER_ALARM_ID = "SweeperFailing"
# The sweeper's watermark more than this behind now (SweepLagSeconds): a run reads at most an hour of mentions, so a
# sweeper that runs but cannot keep up, or waits on a triage queue hours behind, leaves stranded mentions unfound.
SWEEPER_BEHIND_ALARM_ID = "SweeperBehind"
SWEEPER_BEHIND_SECONDS = 2 * 3600
CONTEXT_ALARM_SUBSCRIPTIONS = "alarmSubscriptions"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
STATE_MACHINE_ID = "StateMachine"
STATE_MACHINE_LOG_GROUP_PREFIX = "/aws/vendedlogs/states/"
CLASSIFY_FUNCTION_ID = "ClassifyFunction"
DRAFT_FUNCTION_ID = "DraftFunction"
DISPATCHER_FUNCTION_ID = "DispatcherFunction"
CLASSIFY_CODE_DIR = REPO_ROOT / "functions" / "classify"
DRAFT_CODE_DIR = REPO_ROOT / "functions" / "draft"
DISPATCHER_CODE_DIR = REPO_ROOT / "functions" / "dispatcher"
CLASSIFY_SERVICE_NAME = "responder-classify"
DRAFT_SERVICE_NAME = "responder-draft"
DISPATCHER_SERVICE_NAME = "responder-dispatcher"

# The sweeper: stranded mentions (stored, never handed to triage) enqueued again, on a schedule.
SWEEPER_ID = "Sweeper"
SWEEPER_FUNCTION_ID = "SweeperFunction"
SWEEPER_RULE_ID = "Schedule"
SWEEPER_CODE_DIR = REPO_ROOT / "functions" / "sweeper"
SWEEPER_SERVICE_NAME = "responder-sweeper"
# With the sweep's three-minute grace (responder/ingest/sweeper.py), a stranded mention is enqueued again within
# three to five minutes once the triage queue has caught up.
SWEEPER_RATE_MINUTES = 2
SWEEPER_TIMEOUT_SECONDS = 60
SWEEPER_MEMORY_MB = 256
# The dispatcher mostly waits on StartSyncExecution, and Lambda bills the wait at the function's memory; its own work
# (a batch's JSON, its threads, one counter write) is small. Its process peaks at 51 MB with its three clients
# (fresh interpreter, `ru_maxrss`); 256 MB leaves room and halves the wait's price against 512 MB. Less would stretch
# its cold start (CPU in proportion to memory: 0.14 of a vCPU here, boto3's import ~1 s).
DISPATCHER_MEMORY_MB = 256
# The partition key of the sweeper's watermark item (responder.aws.storage.SWEEP_WATERMARK_KEY), the one item it writes.
SWEEP_WATERMARK_PK = "SWEEP#stranded"
ENV_STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
# Configuration overrides ship as a layer (infra/constructs/triage_config.py), not in the 4 KB environment.
CONFIG_ID = "Config"
CONFIG_LAYER_ID = "ConfigLayer"
CONFIG_LAYER_FOLDER = "responder-config"
CONFIG_ROUTING_RULES_FILE = "routing_rules.json"
CONFIG_BRAND_VOICE_FILE = "brand_voice.json"
CONFIG_BUILD_DIR = REPO_ROOT / ".build" / "config"
# The same name as responder.core.config reads (a unit test keeps them equal).
ENV_CONFIG_DIR = "RESPONDER_CONFIG_DIR"

CONTEXT_ROUTING_RULES = "routingRules"
CONTEXT_BRAND_VOICE = "brandVoice"
CONTEXT_AGENT_SUBSCRIPTIONS = "agentSubscriptions"
CONTEXT_ESCALATION_SUBSCRIPTIONS = "escalationSubscriptions"
CONTEXT_INCIDENT_SUBSCRIPTIONS = "incidentSubscriptions"
CONTEXT_TRIAGE_MAX_CONCURRENCY = "triageMaxConcurrency"
DEFAULT_TRIAGE_MAX_CONCURRENCY = 10
# The account's Lambda concurrency limit (Service Quotas: "Concurrent executions"; 1,000 by default, as low as 10
# in new accounts): the dispatchers' maximum concurrency and batch size are derived from it (infra/triage_sizing.py).
CONTEXT_ACCOUNT_CONCURRENCY_LIMIT = "accountConcurrencyLimit"
DEFAULT_ACCOUNT_CONCURRENCY_LIMIT = 1000
# Left to the webhook and whatever else runs in the account: a fifth of the limit.
WEBHOOK_CONCURRENCY_SHARE = 0.2
TRIAGE_BATCH_SIZE = 10  # messages per dispatcher invocation: one execution, all its mentions at once
# An SQS event source's maximum concurrency is 2 to 1,000 (Lambda developer guide, "Configuring maximum
# concurrency for Amazon SQS event sources").
SQS_MIN_MAX_CONCURRENCY = 2
SQS_MAX_CONCURRENCY_CEILING = 1000
ENV_WORKFLOW_TIMEOUT_SECONDS = "WORKFLOW_TIMEOUT_SECONDS"
ENV_MAX_PARALLEL_EXECUTIONS = "MAX_PARALLEL_EXECUTIONS"

OUTPUT_STATE_MACHINE_ARN = "StateMachineArn"
OUTPUT_AGENT_TOPIC_ARN = "AgentTopicArn"
OUTPUT_ESCALATION_TOPIC_ARN = "EscalationTopicArn"
OUTPUT_INCIDENT_TOPIC_ARN = "IncidentTopicArn"
CLASSIFY_TIMEOUT_SECONDS = 60  # opening an incident adds its recent members

# Optional managed backends (responder.aws.managed), off by default: `-c sentimentBackend=comprehend`,
# `-c draftBackend=bedrock [-c bedrockModelId=...]`. Off, the template is exactly the default one.
CONTEXT_SENTIMENT_BACKEND = "sentimentBackend"
CONTEXT_DRAFT_BACKEND = "draftBackend"
CONTEXT_BEDROCK_MODEL_ID = "bedrockModelId"
SENTIMENT_BACKENDS = ("local", "comprehend")
DRAFT_BACKENDS = ("template", "bedrock")
DEFAULT_BEDROCK_MODEL_ID = "amazon.nova-micro-v1:0"
# The same names as responder.core.config reads (a unit test keeps them equal).
ENV_SENTIMENT_BACKEND = "RESPONDER_SENTIMENT_BACKEND"
ENV_DRAFT_BACKEND = "RESPONDER_DRAFT_BACKEND"
ENV_BEDROCK_MODEL_ID = "RESPONDER_BEDROCK_MODEL_ID"
# A model call takes seconds: the draft function gets room for the client's two attempts (8 s reads); its task in
# the workflow waits that long plus LAMBDA_INIT_ALLOWANCE_SECONDS.
DRAFT_WITH_MODEL_TIMEOUT_SECONDS = 25
# Draft applies the routing rules in the same invocation (one Lambda request per paged mention instead of two): its
# timeout adds what routing had as a function of its own, for the review key's first read and the SLA timer's
# CreateSchedule (responder.sla.timers: three attempts of 1 s connect and 3 s read).
ROUTE_TIMEOUT_SECONDS = 10

# --- replies: the outbound queue, the sender and the review page --------------------------------------------
OUTBOUND_ID = "Outbound"
OUTBOUND_QUEUE_ID = "OutboundQueue"
OUTBOUND_DLQ_ID = "OutboundDeadLetterQueue"
OUTBOUND_DLQ_ALARM_ID = "OutboundDeadLetters"
OUTBOUND_MAX_RECEIVE_COUNT = 8  # 5xx and throttling retried with backoff; the sender gives up (and says so) first
OUTBOUND_RETENTION_DAYS = 4
SENDER_TIMEOUT_SECONDS = 30  # one platform call (10 s timeout) plus a lookup and two small writes
ENV_OUTBOUND_QUEUE_URL = "OUTBOUND_QUEUE_URL"
OUTPUT_OUTBOUND_QUEUE_URL = "OutboundQueueUrl"
OUTPUT_OUTBOUND_DLQ_URL = "OutboundDeadLetterQueueUrl"
REPLIES_ID = "Replies"
REVIEW_KEY_ID = "ReviewKey"
REVIEW_FUNCTION_ID = "ReviewFunction"
SENDER_FUNCTION_ID = "SenderFunction"
REVIEW_CODE_DIR = REPO_ROOT / "functions" / "review"
SENDER_CODE_DIR = REPO_ROOT / "functions" / "sender"
REVIEW_SERVICE_NAME = "responder-review"
SENDER_SERVICE_NAME = "responder-sender"
REVIEW_PATH = "/review/{token}"
REVIEW_ROUTE_KEYS = (f"GET {REVIEW_PATH}", f"POST {REVIEW_PATH}")
ENV_REVIEW_KEY_SECRET_ARN = "REVIEW_KEY_SECRET_ARN"  # responder.replies.tokens reads the same names
ENV_REVIEW_BASE_URL = "RESPONDER_REVIEW_BASE_URL"
ENV_REVIEW_TTL_SECONDS = "RESPONDER_REVIEW_TTL_SECONDS"
ENV_AGENT_TOPIC_ARN = "AGENT_TOPIC_ARN"
ENV_GRAPH_API_VERSION = "RESPONDER_GRAPH_API_VERSION"
ENV_MESSENGER_HUMAN_AGENT = "RESPONDER_MESSENGER_HUMAN_AGENT"
# Where review links point: the API's own URL unless a custom domain fronts it (https://support.example.com).
CONTEXT_REVIEW_BASE_URL = "reviewBaseUrl"
CONTEXT_REVIEW_LINK_DAYS = "reviewLinkDays"
DEFAULT_REVIEW_LINK_DAYS = 7
CONTEXT_GRAPH_API_VERSION = "graphApiVersion"
DEFAULT_GRAPH_API_VERSION = "v26.0"
# Messenger's HUMAN_AGENT tag (replies up to 7 days after the person's last message) needs Meta's app review.
CONTEXT_MESSENGER_HUMAN_AGENT = "messengerHumanAgentTag"
# The review page: a person's clicks, and guesses at tokens (HMAC-SHA256, unguessable) capped per route.
CONTEXT_REVIEW_THROTTLE_BURST = "apiReviewThrottleBurstLimit"
DEFAULT_REVIEW_THROTTLE_BURST = 20
CONTEXT_REVIEW_THROTTLE_RATE = "apiReviewThrottleRateLimit"
DEFAULT_REVIEW_THROTTLE_RATE = 10
REVIEW_TIMEOUT_SECONDS = 10
# The sender's calls to one platform, at once: X allows about 100-200 posts per 15 minutes per user, Meta 300
# calls/s per Page; two pollers keep a burst of approvals from tripping X's per-user window all at once.
SENDER_MAX_CONCURRENCY = 2
# One reply per invocation: a platform call may take its 10 s read timeout, and a crash check another call.
SENDER_BATCH_SIZE = 1
REVIEW_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
SENDER_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")

# --- first response within the hour: the dashboard and the breach-rate alarm ----------------------------------
DASHBOARD_ID = "Dashboard"
# Also the alarm's name after the stack name, granted on the alarm topic's key and policy like the others.
BREACH_RATE_ALARM_ID = "SlaBreachRate"
CONTEXT_BREACH_RATE_ALARM_PERCENT = "breachRateAlarmPercent"
DEFAULT_BREACH_RATE_ALARM_PERCENT = 10.0
BREACH_RATE_PERIOD_MINUTES = 15
METRICS_NAMESPACE = "Responder"
METRIC_SWEEP_LAG_SECONDS = "SweepLagSeconds"  # responder.core.metrics.SWEEP_LAG_SECONDS
OUTPUT_DASHBOARD_NAME = "DashboardName"

# SLA timers (responder.sla): EventBridge Scheduler one-time schedules that invoke the sla function at a due time.
SLA_ID = "Sla"
SLA_FUNCTION_ID = "SlaFunction"
SLA_CODE_DIR = REPO_ROOT / "functions" / "sla"
SLA_SERVICE_NAME = "responder-sla"
SLA_TIMEOUT_SECONDS = 30  # one mention: a read, two writes, two publishes; an incident reads its members too
SLA_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem")
