import type { Engine, EngineConfig } from './engine'
import { JsEngine } from './js-engine/engine'
import { NativeEngine, type NativeBinding } from './native-engine'

let binding: NativeBinding | undefined
let loadError: Error | undefined
let fallbackWarned = false

/** Loads the compiled binding once; remembers why it failed so every caller gets the reason. */
export function loadNativeBinding(): NativeBinding | Error {
  if (binding === undefined && loadError === undefined) {
    try {
      // The napi-generated loader picks the .node file for this platform, local build first.
      binding = require('../native/binding.js') as NativeBinding
    } catch (error) {
      loadError = error instanceof Error ? error : new Error(String(error))
    }
  }
  return binding ?? (loadError as Error)
}

export function createEngine(choice: 'auto' | 'native' | 'js', config: EngineConfig): Engine {
  if (choice === 'js') return new JsEngine(config)
  const native = loadNativeBinding()
  if (native instanceof Error) {
    if (choice === 'native') {
      throw Object.assign(new Error(
        `sessionkeeper: engine 'native' was requested but the native binding could not be loaded ` +
        `(${process.platform}-${process.arch}): ${native.message}. Install the package with its optional ` +
        `dependencies, build it from source with 'npm run build', or use engine: 'js'.`,
        { cause: native },
      ), { code: 'ERR_NATIVE_ENGINE_UNAVAILABLE' })
    }
    if (!fallbackWarned) {
      fallbackWarned = true
      process.emitWarning(
        `no native sessionkeeper binary fits ${process.platform}-${process.arch} (${native.message.split('\n')[0]}); ` +
        `using the pure JavaScript engine. Reinstall without --no-optional / --omit=optional, or build from ` +
        `source with 'npm run build'; pass engine: 'js' to choose it explicitly and silence this warning.`,
        { code: 'SESSIONKEEPER_NATIVE_FALLBACK' },
      )
    }
    return new JsEngine(config)
  }
  return new NativeEngine(native, config)
}
