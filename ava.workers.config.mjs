// The specs that must also pass with ava in its worker-thread mode, where every test file loads
// the native binding in a Worker of its own, as worker pools (Piscina) do: workers.spec.ts, the
// binding's refusal of shared memory (Workers are where SharedArrayBuffers are made), and
// every facade spec that needs no process of its own (no child processes, no HTTP servers), so
// the whole engine lifecycle (create, expiry, eviction, close, re-entrancy) also runs in Workers
// one after another and side by side. package.json holds the main configuration (one process
// per file); `npm test` runs both.
export default {
  extensions: ['ts'],
  files: [
    '__test__/workers.spec.ts', '__test__/binding-shared-memory.spec.ts',
    '__test__/{manager,clock,room,strict-input,closed-sessions,events,owned-objects,expiry,limits}.spec.ts',
    '__test__/{caller-keys,context,reentrancy,validation,generations,hostile-review,users,paging,cookie-paths}.spec.ts',
  ],
  // On Node 20 the `--import=tsx` loader of the main configuration does not reach worker
  // threads; tsx's require hook does, and these specs compile to CommonJS anyway.
  require: ['tsx/cjs'],
  timeout: '2m',
  workerThreads: true,
}
