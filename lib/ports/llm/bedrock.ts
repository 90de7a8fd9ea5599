import {
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandOutput,
} from '@aws-sdk/client-bedrock-runtime';
import { converseBody, converseResponse, converseUsage, toProviderError } from './bedrock-wire.ts';
import type { LlmProvider, LlmRequest, LlmResponse } from './provider.ts';

export type BedrockOptions = {
  /** Defaults to the SDK's (AWS_REGION). */
  region?: string;
  /** Overrides the service endpoint; the SDK also honours AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** Name in the registry and in results; defaults to `bedrock`. */
  name?: string;
};

/**
 * Amazon Bedrock through the Converse API (the request and answer formats are bedrock-wire.ts's, shared
 * with batch inference).
 *
 * @example new BedrockProvider({ region: 'eu-west-1' })
 */
export class BedrockProvider implements LlmProvider {
  readonly name: string;
  readonly #client: BedrockRuntimeClient;

  constructor(options: BedrockOptions = {}) {
    this.name = options.name ?? 'bedrock';
    this.#client = new BedrockRuntimeClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      // The resilience wrapper owns retries; SDK retries inside it would multiply the attempts.
      maxAttempts: 1,
    });
  }

  async classify(request: LlmRequest): Promise<LlmResponse> {
    const command = new ConverseCommand({ modelId: request.model, ...converseBody(request) });
    let response: ConverseCommandOutput;
    try {
      response = await this.#client.send(command, { abortSignal: request.signal });
    } catch (error) {
      throw toProviderError(error, request.signal);
    }
    const usage = converseUsage(response.usage);
    if (usage) await request.onUsage?.(usage);
    return converseResponse(response, usage);
  }
}
