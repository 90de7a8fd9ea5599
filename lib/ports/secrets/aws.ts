import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

// Built once per container; the SDK honours AWS_ENDPOINT_URL, so LocalStack and moto work as is.
let client: SecretsManagerClient | undefined;
const cache = new Map<string, Promise<string>>();

/**
 * Reads a secret's string value from Secrets Manager, once per container and ARN.
 * A failed read is not cached, so the next invocation tries again.
 */
export function readSecret(arn: string): Promise<string> {
  let value = cache.get(arn);
  if (!value) {
    client ??= new SecretsManagerClient({});
    value = client.send(new GetSecretValueCommand({ SecretId: arn })).then((out) => {
      if (out.SecretString === undefined) throw new Error(`Secret ${arn} has no string value`);
      return out.SecretString;
    });
    value.catch(() => cache.delete(arn));
    cache.set(arn, value);
  }
  return value;
}
