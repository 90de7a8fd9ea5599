#!/usr/bin/env node
// The CLI is TypeScript run through tsx, like the project's other scripts: register its loader, then load.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
