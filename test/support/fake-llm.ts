import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createH2cServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

/**
 * What the fake does with one classify request. Unscripted requests get `default`: a valid answer
 * generated from the request's JSON Schema.
 */
export type FakeBehaviour =
  | { kind: 'default' }
  /** Exactly this object as the answer. */
  | { kind: 'json'; body: unknown }
  /** Valid JSON that breaks the schema (a required key missing, an unknown one added). */
  | { kind: 'invalid' }
  /** This text as the answer: not JSON. */
  | { kind: 'text'; body: string }
  /** OpenAI `message.refusal`; Bedrock gets it as plain text. */
  | { kind: 'refusal'; body: string }
  /** An error response. `retryAfter` is seconds or an HTTP date; a 401 echoes the key it got, as the worst provider would. */
  | { kind: 'status'; status: number; retryAfter?: number | string; message?: string }
  /** Waits `ms`, then answers as `default`. */
  | { kind: 'slow'; ms: number }
  /** A 200 that is billed (usage) but has no answer: OpenAI `choices: []`, Bedrock an empty message. */
  | { kind: 'empty' };

export type FakeRequest = {
  protocol: 'openai' | 'bedrock';
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON as sent: tests assert on arbitrary wire fields. */
  body: any;
  model: string;
  /** The JSON Schema the request asked for. */
  schema: object;
  /** The first user message: the record; later ones are repair turns. */
  userText: string;
  /** The usage the fake reported for it (absent for error answers, which are not billed). */
  usage?: { input: number; cached: number; output: number };
  /** The batch it came in (a line of the batch's input file); absent for online calls. */
  batchId?: string;
};

/** A batch as the fake's Batch API keeps it (OpenAI's batch object, the fields docsift reads). */
export type FakeBatch = {
  id: string;
  object: 'batch';
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: 'validating' | 'in_progress' | 'completed' | 'cancelled' | 'expired' | 'failed';
  output_file_id: string | null;
  error_file_id: string | null;
  metadata: Record<string, string>;
  request_counts: { total: number; completed: number; failed: number };
  /** Unix seconds. */
  created_at: number;
};

/** A Bedrock batch inference job as the fake's control plane keeps it (GetModelInvocationJob's fields). */
export type FakeBedrockJob = {
  jobArn: string;
  jobName: string;
  modelId: string;
  roleArn: string;
  clientRequestToken?: string;
  modelInvocationType?: string;
  status: 'Submitted' | 'InProgress' | 'Completed' | 'PartiallyCompleted' | 'Failed' | 'Stopped';
  message?: string;
  inputDataConfig: { s3InputDataConfig: { s3Uri: string; s3InputFormat?: string } };
  outputDataConfig: { s3OutputDataConfig: { s3Uri: string } };
  submitTime: string;
  lastModifiedTime: string;
};

/** A handle on a running fake; see {@link startFakeLlm}. */
export type FakeLlm = {
  /** `http://127.0.0.1:port`; the OpenAI base URL is `${url}/v1`, the Bedrock endpoint `url` itself. */
  readonly url: string;
  /** Every classify request (not model listings), in arrival order. */
  readonly requests: FakeRequest[];
  /** The most classify requests in flight at once since start or {@link FakeLlm.reset}. */
  readonly maxConcurrent: number;
  readonly inFlight: number;
  /** Added to every classify answer: a fixed latency for benchmarks and concurrency tests. */
  latencyMs: number;
  /** Finds the record inside the first user message, for `evidence` quotes; see {@link findRecordText}. */
  recordText: (userText: string) => string;
  /** Queues behaviours, one per classify request; unscripted requests get the default answer. */
  script(...behaviours: FakeBehaviour[]): FakeLlm;
  /** Called for each classify request; a returned behaviour takes precedence over the script. */
  onRequest(fn: (request: FakeRequest) => FakeBehaviour | undefined): FakeLlm;
  /** Batches created through `POST /v1/batches`, in order. */
  readonly batches: FakeBatch[];
  /** Calls of the files and batches endpoints (`POST /v1/batches`, `GET /v1/batches/{id}`…), in order. */
  readonly batchCalls: string[];
  /**
   * Runs every batch still in progress, as the provider would within its window: each line of its
   * input file is answered as an online request would be (scripts and hooks apply; a `status`
   * behaviour makes an error line), then the batch is `completed` with its output file. Returns how many ran.
   */
  completeBatches(): number;
  /**
   * The next `POST /v1/batches` creates its batch and then drops the connection unanswered: a
   * submission the provider took whose answer never arrived.
   */
  loseNextBatchAnswer: boolean;
  /** Bedrock batch inference jobs created through `POST /model-invocation-job`, in order. */
  readonly bedrockJobs: FakeBedrockJob[];
  /** When set, creating a Bedrock job is refused with this message (400 ValidationException), as for a model without batch inference. */
  refuseBedrockJobs: string | undefined;
  /**
   * Runs every Bedrock job still submitted, as Bedrock would: reads its input JSONL from S3 (the
   * emulator), answers each line as the Converse API would online (scripts and hooks apply; a
   * `status` behaviour makes an `error` line), writes `<input>.out` and `manifest.json.out` under
   * `<output>/<job id>/`, and ends it Completed (PartiallyCompleted with error lines). A job of
   * fewer than {@link FAKE_BEDROCK_MIN_RECORDS} records fails, as Bedrock's validation does.
   * Returns how many ran.
   */
  completeBedrockJobs(): Promise<number>;
  /** Forgets scripts, hooks, requests, batches and counters. */
  reset(): void;
  close(): Promise<void>;
};

/** Bedrock's minimum of records per batch inference job, which the fake's validation holds jobs to. */
export const FAKE_BEDROCK_MIN_RECORDS = 100;

/**
 * Starts a local server speaking OpenAI chat completions (`POST /v1/chat/completions`, `GET /v1/models`),
 * OpenAI's files and batches, Bedrock Converse (`POST /model/{modelId}/converse`) and Bedrock's batch
 * inference jobs (`/model-invocation-job`, files in the S3 emulator at `s3Endpoint`, by default
 * AWS_ENDPOINT_URL), so adapters run their real wire code.
 *
 * @example const fake = await startFakeLlm(); new OpenAiProvider({ baseUrl: `${fake.url}/v1`, timeoutMs: 1000 })
 */
export async function startFakeLlm(
  options: { latencyMs?: number; port?: number; s3Endpoint?: string } = {},
): Promise<FakeLlm> {
  let queue: FakeBehaviour[] = [];
  let hook: ((request: FakeRequest) => FakeBehaviour | undefined) | undefined;
  const requests: FakeRequest[] = [];
  let inFlight = 0;
  let maxConcurrent = 0;
  // System prompts seen before: their tokens count as served from the prompt cache, as a provider's would.
  const seenSystems = new Set<string>();

  const handle = async (req: IncomingMessage | Http2ServerRequest, res: Reply) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/v1/files') || path.startsWith('/v1/batches')) {
      batchCalls.push(`${req.method} ${path}`);
      const query = new URL(req.url ?? '/', 'http://fake').searchParams;
      return batchApi(req.method ?? 'GET', path, query, req.headers, Buffer.concat(chunks), res);
    }
    if (path.startsWith('/model-invocation-job')) {
      batchCalls.push(`${req.method} ${decodeURIComponent(path)}`);
      return bedrockJobApi(req.method ?? 'GET', path, Buffer.concat(chunks), res);
    }
    if (req.method === 'GET' && path === '/v1/models') {
      return send(res, 200, {
        object: 'list',
        data: [{ id: 'fake-small', object: 'model', owned_by: 'fake' }],
      });
    }
    const converse = /^\/model\/([^/]+)\/converse$/.exec(path);
    const isOpenAi = req.method === 'POST' && path === '/v1/chat/completions';
    if (!(isOpenAi || (req.method === 'POST' && converse)))
      return send(res, 404, { message: `No route ${path}` });

    inFlight++;
    maxConcurrent = Math.max(maxConcurrent, inFlight);
    let done = false;
    const settle = () => {
      if (!done) inFlight--;
      done = true;
    };
    res.on('finish', settle);
    res.on('close', settle);
    let body: FakeRequest['body'];
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      return send(res, 400, { message: 'Body is not JSON' });
    }
    const request = isOpenAi
      ? openAiRequest(path, req.headers, body)
      : bedrockRequest(path, req.headers, body);
    if (converse?.[1]) request.model = decodeURIComponent(converse[1]);
    requests.push(request);
    let behaviour: FakeBehaviour = hook?.(request) ?? queue.shift() ?? { kind: 'default' };
    const wait = fake.latencyMs + (behaviour.kind === 'slow' ? behaviour.ms : 0);
    if (wait > 0) await pause(wait, res);
    if (gone(res)) return; // The client gave up (its timeout); nothing to answer.
    if (behaviour.kind === 'slow') behaviour = { kind: 'default' };
    if (behaviour.kind === 'status') return sendError(res, request, behaviour);
    const answer = answerFor(behaviour, request, fake.recordText);
    if (isOpenAi) return send(res, 200, openAiResponse(request, answer, seenSystems));
    return send(res, 200, bedrockResponse(request, answer, seenSystems));
  };
  const files = new Map<string, { id: string; purpose: string; content: string }>();
  const batches: FakeBatch[] = [];
  const batchCalls: string[] = [];
  let nextId = 0;
  const fileObject = (f: { id: string; purpose: string; content: string }) => ({
    id: f.id,
    object: 'file',
    bytes: Buffer.byteLength(f.content),
    purpose: f.purpose,
    filename: `${f.id}.jsonl`,
  });
  const storeFile = (purpose: string, content: string) => {
    const file = { id: `file-fake-${++nextId}`, purpose, content };
    files.set(file.id, file);
    return file;
  };

  /** OpenAI's files and batches endpoints, enough for a batch's whole life. */
  const batchApi = async (
    method: string,
    path: string,
    query: URLSearchParams,
    headers: IncomingHttpHeaders,
    raw: Buffer,
    res: Reply,
  ) => {
    if (method === 'POST' && path === '/v1/files') {
      const form = await new Request('http://fake/v1/files', {
        method: 'POST',
        headers: { 'content-type': String(headers['content-type'] ?? '') },
        body: raw,
      })
        .formData()
        .catch(() => undefined);
      const file = form?.get('file');
      if (!form || typeof file === 'string' || !file || form.get('purpose') !== 'batch')
        return send(res, 400, { error: { message: 'Expected multipart with purpose=batch and a file' } });
      return send(res, 200, fileObject(storeFile('batch', await file.text())));
    }
    const content = /^\/v1\/files\/([^/]+)\/content$/.exec(path);
    if (method === 'GET' && content) {
      const file = files.get(decodeURIComponent(content[1]!));
      if (!file) return send(res, 404, { error: { message: 'No such file' } });
      if (gone(res)) return;
      if ('stream' in res) res.writeHead(200, { 'content-type': 'application/jsonl' }).end(file.content);
      else res.writeHead(200, { 'content-type': 'application/jsonl' }).end(file.content);
      return;
    }
    if (method === 'POST' && path === '/v1/batches') {
      let body: {
        input_file_id?: string;
        endpoint?: string;
        completion_window?: string;
        metadata?: Record<string, string>;
      };
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return send(res, 400, { error: { message: 'Body is not JSON' } });
      }
      const input = files.get(body.input_file_id ?? '');
      if (!input || body.endpoint !== '/v1/chat/completions' || body.completion_window !== '24h')
        return send(res, 400, { error: { message: 'Unknown input file, endpoint or completion window' } });
      const total = input.content.split('\n').filter((l) => l.trim()).length;
      const batch: FakeBatch = {
        id: `batch_fake_${++nextId}`,
        object: 'batch',
        endpoint: body.endpoint,
        input_file_id: input.id,
        completion_window: body.completion_window,
        status: 'in_progress',
        output_file_id: null,
        error_file_id: null,
        metadata: body.metadata ?? {},
        request_counts: { total, completed: 0, failed: 0 },
        created_at: Math.floor(Date.now() / 1000),
      };
      batches.push(batch);
      if (fake.loseNextBatchAnswer) {
        fake.loseNextBatchAnswer = false;
        return 'stream' in res ? res.stream.destroy() : res.destroy();
      }
      return send(res, 200, batch);
    }
    if (method === 'GET' && path === '/v1/batches') {
      // Newest first, `limit` a page, `after` the last id of the page before.
      const newest = batches.toReversed();
      const after = query.get('after');
      const start = after ? newest.findIndex((b) => b.id === after) + 1 : 0;
      const page = newest.slice(start, start + Number(query.get('limit') ?? 20));
      return send(res, 200, {
        object: 'list',
        data: page,
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
        has_more: start + page.length < newest.length,
      });
    }
    const one = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
    const batch = one && batches.find((b) => b.id === decodeURIComponent(one[1]!));
    if (!batch) return send(res, 404, { error: { message: `No route or batch ${path}` } });
    if (method === 'GET' && !one![2]) return send(res, 200, batch);
    if (method === 'POST' && one![2]) {
      if (batch.status !== 'in_progress' && batch.status !== 'validating')
        return send(res, 400, { error: { message: `Cannot cancel a batch that is ${batch.status}` } });
      batch.status = 'cancelled';
      return send(res, 200, batch);
    }
    return send(res, 404, { error: { message: `No route ${method} ${path}` } });
  };

  /** Answers a batch's lines as online requests, into its output and error files. */
  const runBatch = (batch: FakeBatch) => {
    const output: string[] = [];
    const errors: string[] = [];
    for (const line of files.get(batch.input_file_id)!.content.split('\n')) {
      if (!line.trim()) continue;
      const { custom_id: customId, url, body } = JSON.parse(line);
      const request = openAiRequest(url, {}, body);
      request.batchId = batch.id;
      requests.push(request);
      let behaviour: FakeBehaviour = hook?.(request) ?? queue.shift() ?? { kind: 'default' };
      if (behaviour.kind === 'slow') behaviour = { kind: 'default' };
      const id = `batch_req_${++nextId}`;
      if (behaviour.kind === 'status') {
        const error = { message: behaviour.message ?? `Fake error ${behaviour.status}`, type: 'fake_error' };
        errors.push(
          JSON.stringify({
            id,
            custom_id: customId,
            response: { status_code: behaviour.status, body: { error } },
            error: null,
          }),
        );
        continue;
      }
      const answer = answerFor(behaviour, request, fake.recordText);
      const completion = openAiResponse(request, answer, seenSystems);
      output.push(
        JSON.stringify({
          id,
          custom_id: customId,
          response: { status_code: 200, body: completion },
          error: null,
        }),
      );
    }
    batch.status = 'completed';
    batch.output_file_id = output.length > 0 ? storeFile('batch_output', `${output.join('\n')}\n`).id : null;
    batch.error_file_id = errors.length > 0 ? storeFile('batch_output', `${errors.join('\n')}\n`).id : null;
    batch.request_counts = {
      total: output.length + errors.length,
      completed: output.length,
      failed: errors.length,
    };
  };

  const bedrockJobs: FakeBedrockJob[] = [];
  const awsError = (res: Reply, status: number, type: string, message: string) =>
    send(res, status, { message }, { 'x-amzn-errortype': `${type}:http://internal.amazon.com/` });

  /** Bedrock's control plane for batch inference: create, get and stop a model invocation job. */
  const bedrockJobApi = (method: string, path: string, raw: Buffer, res: Reply) => {
    if (method === 'POST' && path === '/model-invocation-job') {
      let body: Partial<FakeBedrockJob>;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return awsError(res, 400, 'ValidationException', 'Body is not JSON');
      }
      if (fake.refuseBedrockJobs) return awsError(res, 400, 'ValidationException', fake.refuseBedrockJobs);
      const input = body.inputDataConfig?.s3InputDataConfig?.s3Uri;
      const output = body.outputDataConfig?.s3OutputDataConfig?.s3Uri;
      if (
        !body.jobName ||
        !body.roleArn ||
        !body.modelId ||
        !input?.startsWith('s3://') ||
        !output?.startsWith('s3://')
      )
        return awsError(
          res,
          400,
          'ValidationException',
          'jobName, roleArn, modelId and S3 input and output are required',
        );
      // The idempotency token: the same request again is the same job.
      const again =
        body.clientRequestToken && bedrockJobs.find((j) => j.clientRequestToken === body.clientRequestToken);
      if (again) return send(res, 200, { jobArn: again.jobArn });
      const now = new Date().toISOString();
      const job: FakeBedrockJob = {
        jobArn: `arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/fakejob${String(++nextId).padStart(5, '0')}`,
        jobName: body.jobName,
        modelId: body.modelId,
        roleArn: body.roleArn,
        ...(body.clientRequestToken ? { clientRequestToken: body.clientRequestToken } : {}),
        ...(body.modelInvocationType ? { modelInvocationType: body.modelInvocationType } : {}),
        status: 'Submitted',
        inputDataConfig: { s3InputDataConfig: { s3Uri: input, s3InputFormat: 'JSONL' } },
        outputDataConfig: { s3OutputDataConfig: { s3Uri: output } },
        submitTime: now,
        lastModifiedTime: now,
      };
      bedrockJobs.push(job);
      return send(res, 200, { jobArn: job.jobArn });
    }
    const one = /^\/model-invocation-job\/([^/]+)(\/stop)?$/.exec(path);
    const job = one && bedrockJobs.find((j) => j.jobArn === decodeURIComponent(one[1]!));
    if (!job) return awsError(res, 404, 'ResourceNotFoundException', `No job at ${path}`);
    if (method === 'GET' && !one![2]) return send(res, 200, job);
    if (method === 'POST' && one![2]) {
      if (job.status !== 'Submitted' && job.status !== 'InProgress')
        return awsError(res, 400, 'ValidationException', `Cannot stop a job that is ${job.status}`);
      job.status = 'Stopped';
      job.lastModifiedTime = new Date().toISOString();
      return send(res, 200, {});
    }
    return awsError(res, 404, 'UnknownOperationException', `No route ${method} ${path}`);
  };

  let s3: S3Client | undefined;
  const s3Location = (uri: string) => {
    const [bucket = '', ...key] = uri.slice('s3://'.length).split('/');
    return { Bucket: bucket, Key: key.join('/') };
  };
  /** Answers a Bedrock job's input lines as Converse calls, into its output file in S3. */
  const runBedrockJob = async (job: FakeBedrockJob) => {
    const endpoint = options.s3Endpoint ?? process.env.AWS_ENDPOINT_URL;
    if (!endpoint) throw new Error('The fake runs Bedrock jobs in an S3 emulator: pass s3Endpoint');
    s3 ??= new S3Client({ endpoint, forcePathStyle: true });
    const inputUri = job.inputDataConfig.s3InputDataConfig.s3Uri;
    const got = await s3.send(new GetObjectCommand(s3Location(inputUri)));
    const lines = (await got.Body!.transformToString()).split('\n').filter((l) => l.trim());
    job.lastModifiedTime = new Date().toISOString();
    if (lines.length < FAKE_BEDROCK_MIN_RECORDS) {
      job.status = 'Failed';
      job.message = `The job has ${lines.length} records, fewer than the minimum of ${FAKE_BEDROCK_MIN_RECORDS}`;
      return;
    }
    const output: string[] = [];
    let errors = 0;
    for (const line of lines) {
      const { recordId, modelInput } = JSON.parse(line);
      const request = bedrockRequest('/model-invocation-job', {}, modelInput);
      request.model = job.modelId;
      request.batchId = job.jobArn;
      requests.push(request);
      let behaviour: FakeBehaviour = hook?.(request) ?? queue.shift() ?? { kind: 'default' };
      if (behaviour.kind === 'slow') behaviour = { kind: 'default' };
      if (behaviour.kind === 'status') {
        errors++;
        const errorMessage = behaviour.message ?? `Fake error ${behaviour.status}`;
        output.push(
          JSON.stringify({ recordId, modelInput, error: { errorCode: behaviour.status, errorMessage } }),
        );
        continue;
      }
      const modelOutput = bedrockResponse(
        request,
        answerFor(behaviour, request, fake.recordText),
        seenSystems,
      );
      output.push(JSON.stringify({ recordId, modelInput, modelOutput }));
    }
    const folder = job.outputDataConfig.s3OutputDataConfig.s3Uri.replace(/\/?$/, '/');
    const jobId = job.jobArn.split('/').at(-1);
    const put = (name: string, body: string) =>
      s3!.send(new PutObjectCommand({ ...s3Location(`${folder}${jobId}/${name}`), Body: body }));
    await put(`${inputUri.split('/').at(-1)}.out`, `${output.join('\n')}\n`);
    const manifest = {
      totalRecordCount: lines.length,
      processedRecordCount: lines.length,
      successRecordCount: lines.length - errors,
      errorRecordCount: errors,
    };
    await put('manifest.json.out', JSON.stringify(manifest));
    job.status = errors > 0 ? 'PartiallyCompleted' : 'Completed';
    job.lastModifiedTime = new Date().toISOString();
  };

  // The Bedrock SDK speaks HTTP/2 (cleartext, prior knowledge, with an http:// endpoint); fetch speaks
  // HTTP/1.1. One port serves both: the first bytes of a connection tell which it is.
  const h1 = createServer((req, res) => void handle(req, res));
  const h2 = createH2cServer((req, res) => void handle(req, res));
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('readable', () => {
      const head: Buffer | null = socket.read(3) ?? socket.read();
      if (!head) return;
      socket.unshift(head);
      (head.toString('latin1') === 'PRI' ? h2 : h1).emit('connection', socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject); // A fixed port (npm run fake-llm) may be taken.
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  const fake: FakeLlm = {
    url: `http://127.0.0.1:${port}`,
    requests,
    get maxConcurrent() {
      return maxConcurrent;
    },
    get inFlight() {
      return inFlight;
    },
    latencyMs: options.latencyMs ?? 0,
    recordText: findRecordText,
    loseNextBatchAnswer: false,
    batches,
    batchCalls,
    bedrockJobs,
    refuseBedrockJobs: undefined,
    async completeBedrockJobs() {
      const waiting = bedrockJobs.filter((j) => j.status === 'Submitted' || j.status === 'InProgress');
      for (const job of waiting) await runBedrockJob(job);
      return waiting.length;
    },
    completeBatches() {
      const running = batches.filter((b) => b.status === 'in_progress' || b.status === 'validating');
      for (const batch of running) runBatch(batch);
      return running.length;
    },
    script(...behaviours) {
      queue.push(...behaviours);
      return fake;
    },
    onRequest(fn) {
      hook = fn;
      return fake;
    },
    reset() {
      queue = [];
      hook = undefined;
      requests.length = 0;
      seenSystems.clear();
      batches.length = 0;
      bedrockJobs.length = 0;
      fake.refuseBedrockJobs = undefined;
      batchCalls.length = 0;
      files.clear();
      fake.loseNextBatchAnswer = false;
      maxConcurrent = inFlight;
      fake.latencyMs = options.latencyMs ?? 0;
      fake.recordText = findRecordText;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        s3?.destroy();
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets of fetch and the SDK's HTTP/2 sessions would hold close() open.
        for (const socket of sockets) socket.destroy();
      }),
  };
  return fake;
}

type Answer = { content: unknown; text?: string; refusal?: string; empty?: boolean };

function answerFor(
  behaviour: FakeBehaviour,
  request: FakeRequest,
  recordText: (t: string) => string,
): Answer {
  const quote = firstWords(recordText(request.userText));
  switch (behaviour.kind) {
    case 'json':
      return { content: behaviour.body };
    case 'text':
      return { content: null, text: behaviour.body };
    case 'refusal':
      return { content: null, refusal: behaviour.body };
    case 'empty':
      return { content: null, text: '', empty: true };
    case 'invalid':
      return { content: breakSample(sampleFromSchema(request.schema, { quote })) };
    default:
      return { content: sampleFromSchema(request.schema, { quote }) };
  }
}

function openAiRequest(path: string, headers: IncomingHttpHeaders, body: FakeRequest['body']): FakeRequest {
  const messages: { role?: string; content?: unknown }[] = Array.isArray(body?.messages) ? body.messages : [];
  const user = messages.find((m) => m.role === 'user');
  return {
    protocol: 'openai',
    path,
    headers,
    body,
    model: String(body?.model ?? ''),
    schema: body?.response_format?.json_schema?.schema ?? {},
    userText: typeof user?.content === 'string' ? user.content : '',
  };
}

function bedrockRequest(path: string, headers: IncomingHttpHeaders, body: FakeRequest['body']): FakeRequest {
  const messages: { role?: string; content?: { text?: string }[] }[] = Array.isArray(body?.messages)
    ? body.messages
    : [];
  const user = messages.find((m) => m.role === 'user');
  return {
    protocol: 'bedrock',
    path,
    headers,
    body,
    model: '',
    schema: body?.toolConfig?.tools?.[0]?.toolSpec?.inputSchema?.json ?? {},
    userText: (user?.content ?? []).map((c) => c.text ?? '').join(''),
  };
}

function openAiResponse(request: FakeRequest, answer: Answer, seen: Set<string>) {
  const content = answer.text ?? (answer.refusal ? null : JSON.stringify(answer.content));
  return {
    id: `chatcmpl-fake-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: answer.empty
      ? []
      : [
          {
            index: 0,
            message: { role: 'assistant', content, refusal: answer.refusal ?? null },
            finish_reason: 'stop',
          },
        ],
    usage: usage(request, content ?? answer.refusal ?? '', 'openai', seen),
  };
}

function bedrockResponse(request: FakeRequest, answer: Answer, seen: Set<string>) {
  const text = answer.text ?? answer.refusal;
  const toolName = request.body?.toolConfig?.tools?.[0]?.toolSpec?.name ?? 'result';
  const content = answer.empty
    ? []
    : text !== undefined
      ? [{ text }]
      : [
          {
            toolUse: {
              toolUseId: `tooluse_fake_${request.model.length}`,
              name: toolName,
              input: answer.content,
            },
          },
        ];
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: text !== undefined ? 'end_turn' : 'tool_use',
    usage: usage(request, text ?? JSON.stringify(answer.content), 'bedrock', seen),
    metrics: { latencyMs: 1 },
  };
}

/**
 * Roughly four characters a token (deterministic, enough for tests that sum usage), over the
 * messages, the system prompt and the schema. A system prompt seen before counts as cached, as
 * a provider's prompt cache would serve it. Each protocol's shape: OpenAI's prompt_tokens include
 * the cached ones; Bedrock's inputTokens leave them out (cacheReadInputTokens).
 */
function usage(request: FakeRequest, output: string, protocol: 'openai' | 'bedrock', seen: Set<string>) {
  const body = request.body ?? {};
  const system = JSON.stringify(protocol === 'openai' ? (body.messages?.[0] ?? '') : (body.system ?? ''));
  const rest = JSON.stringify(protocol === 'openai' ? (body.messages ?? []).slice(1) : (body.messages ?? []));
  const schema = JSON.stringify(request.schema ?? {});
  const systemTokens = Math.ceil(system.length / 4);
  const input = systemTokens + Math.ceil(rest.length / 4) + Math.ceil(schema.length / 4);
  const cached = seen.has(system) ? systemTokens : 0;
  seen.add(system);
  const out = Math.ceil(output.length / 4);
  request.usage = { input, cached, output: out };
  return protocol === 'openai'
    ? {
        prompt_tokens: input,
        completion_tokens: out,
        total_tokens: input + out,
        prompt_tokens_details: { cached_tokens: cached },
      }
    : {
        inputTokens: input - cached,
        cacheReadInputTokens: cached,
        outputTokens: out,
        totalTokens: input + out,
      };
}

const BEDROCK_ERRORS: Record<number, string> = {
  400: 'ValidationException',
  401: 'UnrecognizedClientException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  429: 'ThrottlingException',
  503: 'ServiceUnavailableException',
};

function sendError(res: Reply, request: FakeRequest, b: Extract<FakeBehaviour, { kind: 'status' }>) {
  const headers: Record<string, string> = {};
  if (b.retryAfter !== undefined) headers['retry-after'] = String(b.retryAfter);
  const auth = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
  const message =
    b.message ?? (b.status === 401 ? `Incorrect API key provided: ${auth}.` : `Fake error ${b.status}`);
  if (request.protocol === 'openai') {
    return send(res, b.status, { error: { message, type: 'fake_error', code: b.status } }, headers);
  }
  const type =
    BEDROCK_ERRORS[b.status] ?? (b.status >= 500 ? 'InternalServerException' : 'ValidationException');
  return send(
    res,
    b.status,
    { message },
    { ...headers, 'x-amzn-errortype': `${type}:http://internal.amazon.com/` },
  );
}

type Reply = ServerResponse | Http2ServerResponse;

/** True once the client hung up: there is no one to answer. */
function gone(res: Reply): boolean {
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

function send(res: Reply, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (gone(res)) return;
  const all = { 'content-type': 'application/json', ...headers };
  // Same calls on both; TypeScript cannot call a union of their overloaded signatures.
  if ('stream' in res) res.writeHead(status, all).end(JSON.stringify(body));
  else res.writeHead(status, all).end(JSON.stringify(body));
}

/** Waits, but stops early when the client hangs up, so close() never waits on a dead request. */
function pause(ms: number, res: Reply): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Finds the record in a user message: inside `<record>` (as lib/classify/prompt.ts writes it; or `<text>`,
 * `<document>`) tags, a fenced block,
 * or after a `Record:` / `Text:` label; otherwise the whole message.
 */
export function findRecordText(userText: string): string {
  // `<record-1>` is the prompt's fallback tag when the text itself contains `<record`; `<record-title>` is not the record.
  const tagged = /<(record(?:-\d+)?|text|document)(?:\s[^>]*)?>([\s\S]*?)<\/\1>/i.exec(userText);
  if (tagged?.[2]?.trim()) return tagged[2];
  const fenced = /```[a-z]*\n([\s\S]*?)```/i.exec(userText);
  if (fenced?.[1]?.trim()) return fenced[1];
  const labelled = /^(?:record|text|document)(?: text)?:[ \t]*\n?([\s\S]+)$/im.exec(userText);
  if (labelled?.[1]?.trim()) return labelled[1];
  return userText;
}

/** Up to five words of the first non-empty line, verbatim: a quote any "appears in the record" check accepts. */
function firstWords(text: string): string | undefined {
  const line = text.split('\n').find((l) => l.trim() !== '');
  return line ? /\S+(?:[ \t]+\S+){0,4}/.exec(line)?.[0] : undefined;
}

type Schema = Record<string, unknown>;

/**
 * A deterministic value that satisfies `schema`: first enum value, the minimum of a range or 0, 'text'
 * strings, one item per array; string fields named like `evidence`/`quote` get `quote`.
 */
export function sampleFromSchema(schema: object, context: { quote?: string | undefined } = {}): unknown {
  return sample(schema as Schema, schema as Schema, context.quote, undefined, 0);
}

function sample(
  s: Schema,
  root: Schema,
  quote: string | undefined,
  key: string | undefined,
  depth: number,
): unknown {
  if (depth > 12) return null;
  const next = (sub: unknown, k = key) => sample((sub ?? {}) as Schema, root, quote, k, depth + 1);
  if (typeof s.$ref === 'string') return next(resolveRef(s.$ref, root));
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum)) return s.enum[0];
  for (const union of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = s[union];
    if (Array.isArray(branches) && branches.length > 0) {
      // Prefer a branch that is not `null`, so nullable fields still show a value.
      return next(branches.find((b: Schema) => b.type !== 'null') ?? branches[0]);
    }
  }
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const type = types.find((t) => t !== 'null') ?? types[0] ?? (s.properties ? 'object' : undefined);
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, sub]) => [k, next(sub, k)]));
    }
    case 'array': {
      const max = typeof s.maxItems === 'number' ? s.maxItems : Number.POSITIVE_INFINITY;
      const count = Math.min(max, Math.max(1, typeof s.minItems === 'number' ? s.minItems : 1));
      return Array.from({ length: count }, () => next(s.items));
    }
    case 'string':
      return sampleString(s, key && /evidence|quote/i.test(key) ? quote : undefined);
    case 'integer':
    case 'number':
      return sampleNumber(s, type === 'integer');
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return null;
  }
}

function sampleString(s: Schema, quote: string | undefined): string {
  if (quote) return quote;
  const formats: Record<string, string> = {
    date: '2000-01-01',
    'date-time': '2000-01-01T00:00:00Z',
    email: 'text@example.com',
    uri: 'https://example.com/',
    uuid: '00000000-0000-4000-8000-000000000000',
  };
  let text = formats[String(s.format)] ?? 'text';
  if (typeof s.minLength === 'number') text = text.padEnd(s.minLength, 'x');
  if (typeof s.maxLength === 'number') text = text.slice(0, s.maxLength);
  return text;
}

function sampleNumber(s: Schema, integer: boolean): number {
  let value = 0;
  if (typeof s.minimum === 'number') value = s.minimum;
  else if (typeof s.exclusiveMinimum === 'number') value = s.exclusiveMinimum + (integer ? 1 : 0.5);
  else if (typeof s.maximum === 'number' && s.maximum < 0) value = s.maximum;
  else if (typeof s.exclusiveMaximum === 'number' && s.exclusiveMaximum <= 0) value = s.exclusiveMaximum - 1;
  return integer ? Math.ceil(value) : value;
}

function resolveRef(ref: string, root: Schema): unknown {
  if (!ref.startsWith('#')) return {};
  return ref
    .slice(1)
    .split('/')
    .filter(Boolean)
    .reduce<unknown>(
      (node, part) => (node as Schema | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')],
      root,
    );
}

/** The valid sample with its first key removed and an unknown key added: breaks `required` and strictness. */
function breakSample(valid: unknown): unknown {
  if (!valid || typeof valid !== 'object' || Array.isArray(valid)) return { unexpected_field: true };
  const [firstKey] = Object.keys(valid);
  const { [firstKey ?? '']: _dropped, ...rest } = valid as Record<string, unknown>;
  return { ...rest, unexpected_field: true };
}
