import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { propsFromContext, stackNameFromContext } from '#infra/context.ts';

describe('propsFromContext', () => {
  it('reads CLI strings (-c key=value) into typed stack props', () => {
    const app = new App({
      context: {
        corsOrigins: 'https://a.example.com/, https://b.example.com',
        usersOpenRegistration: 'true',
        deletionProtection: 'false',
        accessTokenExpireMinutes: '30',
        firstSuperuserEmail: 'admin@example.com',
        maxUploadBytes: '1048576',
        openaiBaseUrl: 'http://llm.internal:11434/v1',
        openaiModels: 'llama3.2, qwen3,llama3.2',
        bedrockModels: 'amazon.nova-lite-v1:0',
        classifierDefaultProvider: 'openai',
        classifierDefaultModel: 'qwen3',
        llmConcurrency: '8',
        authThrottleRateLimit: '5',
        authThrottleBurstLimit: '10',
      },
    });
    expect(propsFromContext(app.node)).toEqual({
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      usersOpenRegistration: true,
      deletionProtection: false,
      accessTokenExpireMinutes: 30,
      firstSuperuserEmail: 'admin@example.com',
      maxUploadBytes: 1048576,
      openaiBaseUrl: 'http://llm.internal:11434/v1',
      openaiModels: ['llama3.2', 'qwen3'],
      bedrockModels: ['amazon.nova-lite-v1:0'],
      classifierDefaultProvider: 'openai',
      classifierDefaultModel: 'qwen3',
      llmConcurrency: 8,
      authThrottleRateLimit: 5,
      authThrottleBurstLimit: 10,
    });
  });

  it('accepts typed values from cdk.json and leaves unset keys out', () => {
    const app = new App({
      context: { corsOrigins: ['*'], deletionProtection: true, bedrockModels: ['amazon.nova-pro-v1:0'] },
    });
    expect(propsFromContext(app.node)).toEqual({
      corsOrigins: ['*'],
      deletionProtection: true,
      bedrockModels: ['amazon.nova-pro-v1:0'],
    });
  });

  it('reads the observability and throttling keys, alarm thresholds into alarmThresholds', () => {
    const app = new App({
      context: {
        tracing: 'true',
        alarmEmail: 'ops@example.com',
        apiThrottleRateLimit: '50',
        apiThrottleBurstLimit: '80',
        classifyConcurrency: '3',
        reserveWorkerConcurrency: 'false',
        alarmApi5xxPercent: '2.5',
        alarmTaskQueueAgeSeconds: '300',
      },
    });
    expect(propsFromContext(app.node)).toEqual({
      tracing: true,
      alarmEmail: 'ops@example.com',
      apiThrottleRateLimit: 50,
      apiThrottleBurstLimit: 80,
      classifyConcurrency: 3,
      reserveWorkerConcurrency: false,
      alarmThresholds: { api5xxPercent: 2.5, taskQueueAgeSeconds: 300 },
    });
    // Lambda's SQS event source needs two concurrent invocations at least.
    expect(() => propsFromContext(new App({ context: { ingestConcurrency: '1' } }).node)).toThrow(
      /ingestConcurrency/,
    );
  });

  it('fails synth with a clear message on a bad value', () => {
    const app = new App({ context: { emailsFrom: 'not-an-email', usersOpenRegistration: 'yes please' } });
    expect(() => propsFromContext(app.node)).toThrow(
      /Invalid CDK context:[\s\S]*emailsFrom[\s\S]*usersOpenRegistration/,
    );
  });

  it('treats an empty model list as unset and refuses unknown providers and bad LLM settings', () => {
    expect(propsFromContext(new App({ context: { openaiModels: ' , ' } }).node)).toEqual({});
    const app = new App({
      context: {
        classifierDefaultProvider: 'anthropic',
        llmConcurrency: '0',
        openaiBaseUrl: 'localhost:11434',
      },
    });
    expect(() => propsFromContext(app.node)).toThrow(
      /openaiBaseUrl[\s\S]*classifierDefaultProvider[\s\S]*llmConcurrency/,
    );
  });
});

describe('stackNameFromContext', () => {
  it('names the stack after its stage, so stages deploy side by side', () => {
    expect(stackNameFromContext(new App().node)).toBe('Docsift');
    expect(stackNameFromContext(new App({ context: { stage: 'dev' } }).node)).toBe('Docsift-dev');
  });

  it('refuses a stage CloudFormation could not name a stack after', () => {
    for (const stage of ['1st', 'dev_1', 'a'.repeat(22), 'x y']) {
      expect(() => stackNameFromContext(new App({ context: { stage } }).node), stage).toThrow(/stage:/);
    }
  });
});
