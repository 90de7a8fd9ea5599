#!/usr/bin/env bash
# LocalStack ready hook: creates docsift's bucket and queues when LocalStack starts.
#
# `npm start` with PLATFORM=aws and AWS_ENDPOINT_URL set creates the same resources itself
# through ensureAwsResources() in lib/aws/resources.ts (the code the test suite runs against
# moto), so this hook is a convenience for other clients (the AWS CLI, a browser app, a second
# service) that need the resources before docsift has started once. Keep the two in step:
#
#   bucket  ${UPLOADS_BUCKET}  CORS: AllowedMethods POST, GET; AllowedOrigins BACKEND_CORS_ORIGINS
#                              (or *); AllowedHeaders *; MaxAgeSeconds 600
#   queue   ${INGEST_QUEUE}-dlq  MessageRetentionPeriod 1209600
#   queue   ${INGEST_QUEUE}      VisibilityTimeout QUEUE_VISIBILITY_TIMEOUT_SECONDS;
#                                RedrivePolicy {deadLetterTargetArn: <dlq arn>,
#                                maxReceiveCount: QUEUE_MAX_RECEIVE_COUNT};
#                                Policy: s3.amazonaws.com may sqs:SendMessage from the bucket
#   notification  s3:ObjectCreated:* on keys under workspaces/ -> the ingest queue
#
# CreateQueue fails on an existing queue whose attributes differ, so the queue attributes must
# be the exact strings lib/aws/resources.ts sends. Names and defaults are those of lib/config.ts.
# Idempotent: every step creates or overwrites. Extra, not in ensureAwsResources: when
# EMAILS_FROM is set, that sender is verified in SES (LocalStack sends only from verified ones).
set -euo pipefail

BUCKET="${UPLOADS_BUCKET:-docsift-uploads}"
QUEUE="${INGEST_QUEUE:-docsift-ingest}"
DLQ="${QUEUE}-dlq"
MAX_RECEIVE_COUNT="${QUEUE_MAX_RECEIVE_COUNT:-3}"
VISIBILITY_TIMEOUT="${QUEUE_VISIBILITY_TIMEOUT_SECONDS:-60}"
REGION="${AWS_DEFAULT_REGION:-us-east-1}"
PREFIX='workspaces/' # UPLOADS_PREFIX in lib/aws/resources.ts

aws_() { awslocal --region "$REGION" "$@"; }

# A JSON string literal of $1 (for JSON documents nested in attributes).
json_string() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

echo "docsift: bucket ${BUCKET}, queues ${QUEUE} and ${DLQ} in ${REGION}"

# Bucket and CORS for browser POSTs (BACKEND_CORS_ORIGINS parsed as lib/config.ts does).
if ! aws_ s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  if [[ $REGION == us-east-1 ]]; then
    aws_ s3api create-bucket --bucket "$BUCKET" >/dev/null
  else
    aws_ s3api create-bucket --bucket "$BUCKET" \
      --create-bucket-configuration "LocationConstraint=${REGION}" >/dev/null
  fi
fi
origins=()
IFS=',' read -ra parts <<<"${BACKEND_CORS_ORIGINS:-}"
for origin in "${parts[@]}"; do
  origin="${origin#"${origin%%[![:space:]]*}"}"
  origin="${origin%"${origin##*[![:space:]]}"}"
  origin="${origin%/}"
  if [[ -n $origin ]]; then origins+=("$(json_string "$origin")"); fi
done
allowed='"*"'
if ((${#origins[@]} > 0)); then allowed=$(IFS=,; echo "${origins[*]}"); fi
aws_ s3api put-bucket-cors --bucket "$BUCKET" --cors-configuration \
  "{\"CORSRules\":[{\"AllowedMethods\":[\"POST\",\"GET\"],\"AllowedOrigins\":[${allowed}],\"AllowedHeaders\":[\"*\"],\"MaxAgeSeconds\":600}]}"

# Dead-letter queue, then the ingest queue with its redrive policy.
dlq_url=$(aws_ sqs create-queue --queue-name "$DLQ" \
  --attributes '{"MessageRetentionPeriod":"1209600"}' --query QueueUrl --output text)
dlq_arn=$(aws_ sqs get-queue-attributes --queue-url "$dlq_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
redrive="{\"deadLetterTargetArn\":\"${dlq_arn}\",\"maxReceiveCount\":${MAX_RECEIVE_COUNT}}"
queue_url=$(aws_ sqs create-queue --queue-name "$QUEUE" \
  --attributes "{\"VisibilityTimeout\":\"${VISIBILITY_TIMEOUT}\",\"RedrivePolicy\":$(json_string "$redrive")}" \
  --query QueueUrl --output text)
queue_arn=$(aws_ sqs get-queue-attributes --queue-url "$queue_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)

# Let S3 send to the queue, from this bucket only.
policy="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"s3.amazonaws.com\"},\"Action\":\"sqs:SendMessage\",\"Resource\":\"${queue_arn}\",\"Condition\":{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:s3:::${BUCKET}\"}}}]}"
aws_ sqs set-queue-attributes --queue-url "$queue_url" --attributes "{\"Policy\":$(json_string "$policy")}"

# New objects under workspaces/ announce themselves to the ingest queue.
aws_ s3api put-bucket-notification-configuration --bucket "$BUCKET" --notification-configuration \
  "{\"QueueConfigurations\":[{\"QueueArn\":\"${queue_arn}\",\"Events\":[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"${PREFIX}\"}]}}}]}"

if [[ -n ${EMAILS_FROM:-} ]]; then
  aws_ ses verify-email-identity --email-address "$EMAILS_FROM"
  echo "docsift: SES sender ${EMAILS_FROM} verified"
fi

echo "docsift: ready (${queue_url})"
