// Types for scripts/prepare-web-data.mjs (used by test/browser.test.ts).
export declare const WEB_DATA_FILES: string[];
export declare function prepareWebData(opts?: { outDir?: string; force?: boolean; log?: (s: string) => void }): { file: string; written: boolean; bytes: number }[];
