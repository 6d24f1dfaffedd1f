/** Opens the store of one kind, loading only that library (after the clock patch is in place). */
import type { StoreKind } from '../results-schema'
import type { SessionStore, StoreSetup } from './store'

export async function openStore(kind: StoreKind, setup: StoreSetup): Promise<SessionStore> {
  switch (kind) {
    case 'native':
    case 'js':
      return (await import('./sessionkeeper')).openSessionkeeper(kind)
    case 'lru-cache':
      return (await import('./lru-cache')).openLruCache(setup)
    case 'ttlcache':
      return (await import('./ttlcache')).openTtlCache(setup)
    case 'express-session-memory':
      return (await import('./express-session-memory')).openExpressSessionMemory()
    case 'memorystore':
      return (await import('./memorystore')).openMemorystore()
    case 'node-cache':
      return (await import('./node-cache')).openNodeCache()
  }
}
