// Types of rfc8323.mjs (plain JavaScript so the raw peers' worker thread can load it).
export declare const Code: Readonly<{
  EMPTY: number; GET: number; POST: number; PUT: number; DELETE: number
  CREATED: number; CHANGED: number; CONTENT: number; NOT_FOUND: number
  CSM: number; PING: number; PONG: number; RELEASE: number; ABORT: number
}>
export declare const Opt: Readonly<{
  URI_PATH: number; CONTENT_FORMAT: number; URI_QUERY: number; BLOCK2: number; BLOCK1: number; SIZE2: number; SIZE1: number
  MAX_MESSAGE_SIZE: number; BLOCK_WISE_TRANSFER: number; CUSTODY: number; BAD_CSM_OPTION: number
}>
export interface TcpMessage {
  code: number
  token?: Buffer
  options?: Array<[number, Buffer]>
  payload?: Buffer
}
export interface ParsedMessage {
  code: number
  token: Buffer
  options: Array<[number, Buffer]>
  payload: Buffer
  /** Bytes on the wire, header included. */
  size: number
}
export declare function codeString(code: number): string
export declare function encodeUint(n: number): Buffer
export declare function decodeUint(buf: Uint8Array): number
export declare function encodeOptions(options: Array<[number, Buffer]>): Buffer
export declare function decodeBody(buf: Buffer): { options: Array<[number, Buffer]>; payload: Buffer }
export declare function encodeTcp(message: TcpMessage): Buffer
export declare function encodeWs(message: TcpMessage): Buffer
export declare class TcpFrameParser {
  get buffered(): number
  push(chunk: Buffer): ParsedMessage[]
}
export declare function decodeBlock(value: Uint8Array): { num: number; more: boolean; szx: number; size: number }
