import { randomUUID } from 'node:crypto';
import {
  BedrockClient,
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  type GetModelInvocationJobCommandOutput,
  StopModelInvocationJobCommand,
} from '@aws-sdk/client-bedrock';
import { ObjectNotFoundError, type ObjectStore, readAll } from '#lib/ports/objects/store.ts';
import {
  BEDROCK_BATCH_MIN_RECORDS,
  type ConverseAnswer,
  converseBody,
  converseResponse,
  converseUsage,
  toProviderError,
} from './bedrock-wire.ts';
import {
  type BatchAnswer,
  type BatchRequest,
  type BatchState,
  type LlmBatchApi,
  ProviderError,
  reasonForStatus,
  sanitizeDetail,
} from './provider.ts';

export type BedrockBatchOptions = {
  /** The service role Bedrock assumes to read the input and write the output (BEDROCK_BATCH_ROLE_ARN). */
  roleArn: string;
  /** Where the files go (BEDROCK_BATCH_S3_URI): inputs under `<prefix>input/`, outputs under `<prefix>output/`. */
  bucket: string;
  prefix: string;
  /** The bucket, through the object store port (S3). */
  files: Pick<ObjectStore, 'put' | 'read'>;
  /** Defaults to the SDK's (AWS_REGION). */
  region?: string;
  /** Overrides the control-plane endpoint; the SDK also honours AWS_ENDPOINT_URL_BEDROCK and AWS_ENDPOINT_URL. */
  endpoint?: string;
};

/** Job statuses after which nothing changes, and those of a job that ran to its end. */
const DONE = new Set(['Completed', 'PartiallyCompleted', 'Failed', 'Stopped', 'Expired']);
const COMPLETED = new Set(['Completed', 'PartiallyCompleted']);

/**
 * Bedrock batch inference (a model invocation job) behind the {@link LlmBatchApi} port: the
 * requests go to S3 as JSONL, one line `{recordId, modelInput}` each, whose `modelInput` is the
 * Converse request the online adapter sends (the job's invocation type is `Converse`, so one
 * format serves every model, and the answers are Converse responses, read as online ones are).
 * Bedrock writes `<input file>.out` under `<output prefix><job id>/`, a line for each record
 * with its `modelOutput` or its `error`, in no particular order.
 *
 * A `recordId` must be alphanumeric: it is the custom id's UTF-8 bytes in hex.
 *
 * @example new BedrockBatches({ roleArn, bucket: 'docsift-uploads', prefix: 'bedrock-batch/', files })
 */
export class BedrockBatches implements LlmBatchApi {
  readonly minRequests = BEDROCK_BATCH_MIN_RECORDS;
  readonly #client: BedrockClient;
  readonly #options: BedrockBatchOptions;

  constructor(options: BedrockBatchOptions) {
    this.#options = options;
    this.#client = new BedrockClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
  }

  /**
   * Writes the input file and creates the job. The docsift batch id names the file, the job and
   * its idempotency token: a submission repeated after a crash finds the job it created.
   */
  async submit(requests: BatchRequest[], metadata: Record<string, string>) {
    const model = requests[0]?.request.model;
    if (!model || requests.some((r) => r.request.model !== model))
      throw new Error('A Bedrock batch job runs one model: every request must name the same one');
    const { bucket, prefix, roleArn, files } = this.#options;
    const name = (metadata.docsift_batch_id ?? randomUUID()).replace(/[^A-Za-z0-9-]/g, '');
    const inputKey = `${prefix}input/${name}.jsonl`;
    const jsonl = requests.map(({ customId, request }) =>
      JSON.stringify({ recordId: recordIdOf(customId), modelInput: converseBody(request) }),
    );
    await files.put(inputKey, Buffer.from(`${jsonl.join('\n')}\n`), 'application/jsonl');
    let jobArn: string | undefined;
    try {
      ({ jobArn } = await this.#client.send(
        new CreateModelInvocationJobCommand({
          jobName: `docsift-${name}`,
          clientRequestToken: name,
          roleArn,
          modelId: model,
          modelInvocationType: 'Converse',
          inputDataConfig: {
            s3InputDataConfig: { s3Uri: `s3://${bucket}/${inputKey}`, s3InputFormat: 'JSONL' },
          },
          outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/${prefix}output/${name}/` } },
        }),
      ));
    } catch (error) {
      throw toProviderError(error, undefined);
    }
    if (!jobArn) throw new ProviderError('The provider sent no job ARN for the batch', { retryable: true });
    return { batchId: jobArn, inputFileId: inputKey };
  }

  async retrieve(jobArn: string): Promise<BatchState> {
    let job: GetModelInvocationJobCommandOutput;
    try {
      job = await this.#client.send(new GetModelInvocationJobCommand({ jobIdentifier: jobArn }));
    } catch (error) {
      throw toProviderError(error, undefined);
    }
    const status = job.status ?? 'Unknown';
    return {
      // PartiallyCompleted → partially_completed, as OpenAI spells its statuses.
      status: status.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toLowerCase(),
      done: DONE.has(status),
      completed: COMPLETED.has(status),
      outputFileId: outputKey(job, this.#options.bucket),
    };
  }

  /** The lines of the job's output file; none when it wrote none (a failed or stopped job): its units go online. */
  async answers(state: BatchState): Promise<BatchAnswer[]> {
    if (!state.outputFileId) return [];
    let text: string;
    try {
      text = (await readAll(await this.#options.files.read(state.outputFileId))).toString('utf8');
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return [];
      throw error;
    }
    return text
      .split('\n')
      .filter((line) => line.trim())
      .map(batchAnswer);
  }

  async cancel(jobArn: string): Promise<void> {
    try {
      await this.#client.send(new StopModelInvocationJobCommand({ jobIdentifier: jobArn }));
    } catch (error) {
      throw toProviderError(error, undefined);
    }
  }
}

/** A custom id as a record id, which Bedrock wants alphanumeric. */
export function recordIdOf(customId: string): string {
  return Buffer.from(customId, 'utf8').toString('hex');
}

function customIdOf(recordId: unknown): string {
  return typeof recordId === 'string' && /^(?:[0-9a-f]{2})+$/.test(recordId)
    ? Buffer.from(recordId, 'hex').toString('utf8')
    : '';
}

/**
 * The key of a job's output file in our bucket: `<output prefix><job id>/<input file name>.out`,
 * the job id being the last part of its ARN. Undefined when the job names another bucket.
 */
function outputKey(job: GetModelInvocationJobCommandOutput, bucket: string): string | undefined {
  const input = job.inputDataConfig?.s3InputDataConfig?.s3Uri;
  const output = job.outputDataConfig?.s3OutputDataConfig?.s3Uri;
  const jobId = job.jobArn?.split('/').at(-1);
  const ours = `s3://${bucket}/`;
  if (!input || !output?.startsWith(ours) || !jobId) return undefined;
  const folder = output.slice(ours.length).replace(/\/?$/, '/');
  return `${folder}${jobId}/${input.split('/').at(-1)}.out`;
}

/** One line of the output: `{recordId, modelInput, modelOutput}`, or `{recordId, modelInput, error: {errorCode, errorMessage}}`. */
function batchAnswer(line: string): BatchAnswer {
  let parsed: {
    recordId?: unknown;
    modelOutput?: ConverseAnswer | null;
    error?: { errorCode?: unknown; errorMessage?: unknown } | null;
  };
  try {
    parsed = JSON.parse(line);
  } catch {
    return {
      customId: '',
      ok: false,
      error: new ProviderError('The batch output has a line that is not JSON', { retryable: true }),
    };
  }
  const customId = customIdOf(parsed.recordId);
  const usage = converseUsage(parsed.modelOutput?.usage);
  if (parsed.error || !parsed.modelOutput) {
    const status = Number(parsed.error?.errorCode);
    const error = new ProviderError(
      Number.isInteger(status) && status > 0
        ? reasonForStatus(status)
        : 'The provider could not run this request of the batch',
      {
        retryable: true,
        ...(Number.isInteger(status) && status > 0 ? { status } : {}),
        detail: sanitizeDetail(parsed.error?.errorMessage),
      },
    );
    return { customId, ok: false, error, ...(usage ? { usage } : {}) };
  }
  return { customId, ok: true, response: converseResponse(parsed.modelOutput, usage) };
}
