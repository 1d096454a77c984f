// Module resolution hook for scripts/docs.mjs: TypeDoc's `import ts from "typescript"` gets TypeScript 6
// (the dev dependency `typescript-for-typedoc`, an npm alias of typescript@6.0) instead of the project's
// TypeScript 7. TypeDoc 0.28 drives TypeScript's JavaScript API, which TypeScript 7 (the native compiler) does not
// have; until TypeDoc supports 7, the documentation is built with 6 (the same language, the same tsconfig).
export async function resolve(specifier, context, next) {
  if (specifier === 'typescript' || specifier.startsWith('typescript/')) {
    return next(specifier.replace(/^typescript/, 'typescript-for-typedoc'), context);
  }
  return next(specifier, context);
}
