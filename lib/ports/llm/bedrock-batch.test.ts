import { randomBytes, randomUUID } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { BedrockBatches, recordIdOf } from '#lib/ports/llm/bedrock-batch.ts';
import { type BatchRequest, type LlmRequest, ProviderError } from '#lib/ports/llm/provider.ts';
import { S3ObjectStore } from '#lib/ports/objects/s3.ts';
import { rejectionOf } from '#test/support/errors.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';

// Bedrock batch inference against the fake's control plane, with its files in moto's S3.
const MODEL = 'amazon.nova-micro-v1:0';
const ROLE = 'arn:aws:iam::123456789012:role/docsift-bedrock-batch';
const schema = {
  type: 'object',
  properties: { topic: { type: 'string', enum: ['billing', 'support'] } },
  required: ['topic'],
};
const request = (i: number): LlmRequest => ({
  model: MODEL,
  system: 'Classify the ticket.',
  messages: [{ role: 'user', content: `<record>Ticket ${i}: my card was charged twice.</record>` }],
  jsonSchema: schema,
  schemaName: 'ticket.topic',
  temperature: 0,
});
/** `n` requests named as classify-batch.ts names units: record id, then scheme ids. */
const requests = (n: number): BatchRequest[] =>
  Array.from({ length: n }, (_, i) => ({ customId: `${randomUUID()}:${randomUUID()}`, request: request(i) }));

const endpoint = inject('motoEndpoint');
process.env.AWS_ENDPOINT_URL = endpoint;
const bucket = `docsift-batch-${randomBytes(4).toString('hex')}`;
const s3 = new S3Client({ endpoint, forcePathStyle: true });
await s3.send(new CreateBucketCommand({ Bucket: bucket }));
const fake = await startFakeLlm({ s3Endpoint: endpoint });
const batches = new BedrockBatches({
  roleArn: ROLE,
  bucket,
  prefix: 'bedrock-batch/',
  files: new S3ObjectStore(bucket),
  region: 'us-east-1',
  endpoint: fake.url,
});
afterAll(async () => {
  s3.destroy();
  await fake.close();
});
beforeEach(() => fake.reset());

const failure = (call: Promise<unknown>) => rejectionOf(call, ProviderError);

describe('BedrockBatches', () => {
  it('puts Converse requests in S3, creates a Converse job, and reads its answers and error lines back', async () => {
    const sent = requests(101);
    const batchId = randomUUID();
    const submitted = await batches.submit(sent, { docsift_batch_id: batchId });
    expect(submitted.inputFileId).toBe(`bedrock-batch/input/${batchId}.jsonl`);
    const [job] = fake.bedrockJobs;
    expect(submitted.batchId).toBe(job!.jobArn);
    expect(job).toMatchObject({
      jobName: `docsift-${batchId}`,
      clientRequestToken: batchId,
      modelId: MODEL,
      roleArn: ROLE,
      modelInvocationType: 'Converse',
      inputDataConfig: {
        s3InputDataConfig: { s3Uri: `s3://${bucket}/bedrock-batch/input/${batchId}.jsonl` },
      },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/bedrock-batch/output/${batchId}/` } },
    });
    // One line a request: an alphanumeric record id, and the online Converse request as modelInput.
    const input = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: submitted.inputFileId }));
    const lines = (await input.Body!.transformToString())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(101);
    expect(lines[0].recordId).toMatch(/^[0-9a-f]+$/);
    expect(lines[0].recordId).toBe(recordIdOf(sent[0]!.customId));
    expect(lines[0].modelInput).toEqual({
      system: [{ text: 'Classify the ticket.' }],
      messages: [{ role: 'user', content: [{ text: request(0).messages[0]!.content }] }],
      inferenceConfig: { temperature: 0 },
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: 'ticket_topic',
              description: 'Record the classification of the record.',
              inputSchema: { json: schema },
            },
          },
        ],
        toolChoice: { tool: { name: 'ticket_topic' } },
      },
    });

    expect(await batches.retrieve(submitted.batchId)).toMatchObject({ status: 'submitted', done: false });
    // The second line fails at Bedrock: an error line in the output, in place of modelOutput.
    fake.script({ kind: 'default' }, { kind: 'status', status: 429, message: 'Too many tokens' });
    expect(await fake.completeBedrockJobs()).toBe(1);
    const state = await batches.retrieve(submitted.batchId);
    const jobId = job!.jobArn.split('/').at(-1);
    expect(state).toEqual({
      status: 'partially_completed',
      done: true,
      completed: true,
      outputFileId: `bedrock-batch/output/${batchId}/${jobId}/${batchId}.jsonl.out`,
    });

    const answers = await batches.answers(state);
    expect(answers).toHaveLength(101);
    const byId = new Map(answers.map((a) => [a.customId, a]));
    const first = byId.get(sent[0]!.customId)!;
    expect(first.ok && first.response.output).toEqual({ topic: 'billing' });
    expect(first.ok && first.response.usage?.inputTokens).toBe(fake.requests[0]!.usage!.input);
    const failed = byId.get(sent[1]!.customId)!;
    expect(failed.ok).toBe(false);
    expect(!failed.ok && failed.error).toMatchObject({
      reason: 'Rate limited by the provider (429)',
      retryable: true,
      detail: 'Too many tokens',
    });
    expect(answers.filter((a) => a.ok)).toHaveLength(100);
    // Every line came from the job, on the job's model.
    expect(fake.requests.every((r) => r.batchId === job!.jobArn && r.model === MODEL)).toBe(true);
  });

  it('finds the job it created when a submission is repeated', async () => {
    const batchId = randomUUID();
    const first = await batches.submit(requests(100), { docsift_batch_id: batchId });
    const again = await batches.submit(requests(100), { docsift_batch_id: batchId });
    expect(again.batchId).toBe(first.batchId);
    expect(fake.bedrockJobs).toHaveLength(1);
  });

  it('stops a job, and a stopped or unknown one says why it cannot be', async () => {
    const { batchId } = await batches.submit(requests(100), { docsift_batch_id: randomUUID() });
    await batches.cancel(batchId);
    const state = await batches.retrieve(batchId);
    expect(state).toMatchObject({ status: 'stopped', done: true, completed: false });
    // Nothing written: no answers, so its units go online (or nowhere, for a cancelled job).
    expect(await batches.answers(state)).toEqual([]);
    expect(fake.batchCalls).toContain(`POST /model-invocation-job/${batchId}/stop`);
    expect(await failure(batches.cancel(batchId))).toMatchObject({ status: 400, retryable: false });
    const unknown = batchId.replace(/[^/]+$/, 'nosuchjob');
    expect(await failure(batches.retrieve(unknown))).toMatchObject({
      reason: 'The provider does not know this model or endpoint (404)',
    });
  });

  it('refuses to mix models in one job, and Bedrock fails a job below its minimum', async () => {
    const mixed = requests(100);
    mixed[5]!.request = { ...mixed[5]!.request, model: 'amazon.nova-lite-v1:0' };
    await expect(batches.submit(mixed, {})).rejects.toThrow(/same one/);
    expect(fake.bedrockJobs).toHaveLength(0);

    // A model without batch inference: Bedrock refuses the job, for good.
    fake.refuseBedrockJobs = 'The model does not support batch inference';
    expect(await failure(batches.submit(requests(100), {}))).toMatchObject({
      reason: 'The provider rejected the request (400)',
      retryable: false,
      detail: 'The model does not support batch inference',
    });
    fake.refuseBedrockJobs = undefined;

    expect(batches.minRequests).toBe(100);
    const { batchId } = await batches.submit(requests(99), {});
    await fake.completeBedrockJobs();
    const state = await batches.retrieve(batchId);
    expect(state).toMatchObject({ status: 'failed', done: true, completed: false });
    expect(await batches.answers(state)).toEqual([]);
  });
});
