// The package's types for TypeScript resolving without "exports" (moduleResolution node10);
// with "exports", each entry's import/require condition names its own declarations.
export * from './dist/index'
/** Set by the TypeScript compiler on the CommonJS exports: this module has no default export. */
export declare const __esModule: true
