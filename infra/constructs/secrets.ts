import { Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Application secrets that are not database credentials: the JWT signing key. */
export class Secrets extends Construct {
  /** HS256 key for access and password-reset tokens; its string is the key itself. */
  readonly jwtSigningKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.jwtSigningKey = new secretsmanager.Secret(this, 'JwtSigningKey', {
      description: 'docsift: JWT signing key (HS256)',
      generateSecretString: { excludePunctuation: true, passwordLength: 64 },
    });
    Validations.of(this.jwtSigningKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the JWT key would sign every user out, and functions cache it per container; the token code verifies with one key only, so rotation needs key ids (kid) first.',
    });
  }
}
