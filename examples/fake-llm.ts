import { startFakeLlm } from '#test/support/fake-llm.ts';

// `npm run fake-llm`: the tests' OpenAI-compatible fake as a dev server, so docsift classifies
// without an API key. Every answer is valid for the scheme asked (first label, lowest value of a
// range, quotes from the record); it knows nothing, so results show the flow, not a judgement.
const port = Number(process.env.FAKE_LLM_PORT ?? 8089);
const fake = await startFakeLlm({ port }).catch((error: NodeJS.ErrnoException) => {
  console.error(
    error.code === 'EADDRINUSE' ? `Port ${port} is in use: set FAKE_LLM_PORT to another` : error.message,
  );
  process.exit(1);
});
let served = 0;
fake.onRequest((request) => {
  served++;
  console.error(`#${served} ${request.model}: ${request.userText.length} characters`);
  return undefined;
});

console.log(`Fake LLM on ${fake.url}. Put these two lines in .env (then npm start):

OPENAI_BASE_URL=${fake.url}/v1
OPENAI_MODELS=fake-model

Ctrl-C stops it.`);

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => void fake.close().then(() => process.exit(0)));
