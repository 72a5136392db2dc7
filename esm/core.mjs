// ESM entry of libcoap/core.
export * from '../dist/core/index.js'
