// ESM entry of libcoap/compat.
export * from '../dist/compat/index.js'
