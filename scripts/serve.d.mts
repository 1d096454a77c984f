// Types for scripts/serve.mjs (used by test/browser.test.ts).
import type { Server } from 'node:http';

export declare const MIME: Record<string, string>;
export declare function resolveRequest(rawUrl: string | undefined, root?: string): { status: number; file?: undefined } | { status?: undefined; file: string; dir: string; wantsDir: boolean };
export declare function startServer(opts?: { port?: number; host?: string; root?: string }): Promise<{ url: string; port: number; server: Server; close(): Promise<void> }>;
