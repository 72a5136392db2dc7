// ESM entry: the CommonJS build re-exported with its named exports.
export * from '../dist/index.js'
