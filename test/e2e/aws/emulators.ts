import { inject } from 'vitest';

/**
 * An AWS emulator the aws-platform end-to-end tests run against, with where it departs from
 * real AWS, so that one test body holds each to what AWS does.
 */
export type Emulator = {
  name: 'moto' | 'localstack';
  endpoint: () => string;
  /** Real S3 refuses a presigned POST that breaks its policy (size, key); moto accepts it. */
  enforcesPostPolicy: boolean;
};

export const moto: Emulator = {
  name: 'moto',
  endpoint: () => inject('motoEndpoint'),
  enforcesPostPolicy: false,
};

export const localstack: Emulator = {
  name: 'localstack',
  endpoint: () => inject('localstackEndpoint'),
  enforcesPostPolicy: true,
};
