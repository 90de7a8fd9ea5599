import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('runs on defaults alone', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      platform: 'local',
      port: 8000,
      dataDir: '.data',
      databaseUrl: undefined,
      accessTokenExpireMinutes: 11520,
      usersOpenRegistration: false,
      corsOrigins: [],
      firstSuperuser: undefined,
      loginThrottle: { perEmail: 10, perAddress: 100, windowSeconds: 900 },
      recoveryThrottle: { perEmail: 3, perAddress: 20, windowSeconds: 3600 },
    });
  });

  it('reads the throttling limits and refuses a limit of zero', () => {
    const config = loadConfig({
      LOGIN_MAX_FAILURES_PER_EMAIL: '5',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '50',
      LOGIN_THROTTLE_WINDOW_SECONDS: '60',
      RECOVERY_MAX_PER_EMAIL: '1',
      RECOVERY_MAX_PER_ADDRESS: '2',
      RECOVERY_THROTTLE_WINDOW_SECONDS: '120',
    });
    expect(config.loginThrottle).toEqual({ perEmail: 5, perAddress: 50, windowSeconds: 60 });
    expect(config.recoveryThrottle).toEqual({ perEmail: 1, perAddress: 2, windowSeconds: 120 });
    expect(() => loadConfig({ LOGIN_MAX_FAILURES_PER_EMAIL: '0' })).toThrow(/LOGIN_MAX_FAILURES_PER_EMAIL/);
  });

  it('parses every variable it is given', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://u:p@db:5432/x',
      USERS_OPEN_REGISTRATION: 'true',
      BACKEND_CORS_ORIGINS: 'http://a.test/, http://b.test',
      FIRST_SUPERUSER: 'Admin@Example.com',
      FIRST_SUPERUSER_PASSWORD: 'long-enough',
      ACCESS_TOKEN_EXPIRE_MINUTES: '5',
    });
    expect(config.port).toBe(9000);
    expect(config.databaseUrl).toBe('postgres://u:p@db:5432/x');
    expect(config.usersOpenRegistration).toBe(true);
    expect(config.corsOrigins).toEqual(['http://a.test', 'http://b.test']);
    expect(config.firstSuperuser).toEqual({ email: 'admin@example.com', password: 'long-enough' });
    expect(config.accessTokenExpireMinutes).toBe(5);
  });

  it('fails with a message naming each bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', SECRET_KEY: 'short' })).toThrowError(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringMatching(/PORT[\s\S]*DATABASE_URL[\s\S]*SECRET_KEY must be at least 32/),
      }),
    );
  });

  it('wants both or neither of the first superuser’s email and password', () => {
    expect(() => loadConfig({ FIRST_SUPERUSER: 'a@b.co' })).toThrow(ConfigError);
  });
});
