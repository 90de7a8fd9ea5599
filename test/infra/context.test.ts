import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { propsFromContext } from '#infra/context.ts';

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
      },
    });
    expect(propsFromContext(app.node)).toEqual({
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      usersOpenRegistration: true,
      deletionProtection: false,
      accessTokenExpireMinutes: 30,
      firstSuperuserEmail: 'admin@example.com',
      maxUploadBytes: 1048576,
    });
  });

  it('accepts typed values from cdk.json and leaves unset keys out', () => {
    const app = new App({ context: { corsOrigins: ['*'], deletionProtection: true } });
    expect(propsFromContext(app.node)).toEqual({ corsOrigins: ['*'], deletionProtection: true });
  });

  it('fails synth with a clear message on a bad value', () => {
    const app = new App({ context: { emailsFrom: 'not-an-email', usersOpenRegistration: 'yes please' } });
    expect(() => propsFromContext(app.node)).toThrow(
      /Invalid CDK context:[\s\S]*emailsFrom[\s\S]*usersOpenRegistration/,
    );
  });
});
