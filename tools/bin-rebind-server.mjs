#!/usr/bin/env -S node --max-semi-space-size=64
// The `rebind-server` bin: runs the game server (server/main.ts) on the
// project in the working directory (or --root). The engine is TypeScript and
// Node 20 cannot run .ts files, above all inside node_modules, so it is
// loaded through the engine's own tsx, whatever the game depends on. The
// young generation is 64 MB (docs/operating.md, "Memory"), as `npm start`
// gives it.
import { register } from 'tsx/esm/api';

register();
await import('../server/main.ts');
