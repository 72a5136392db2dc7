/**
 * libcoap's own object model for people who know it from C: `Context`, `Session`, `Endpoint`,
 * `Resource`, `Pdu`, with libcoap's names.
 * @module libcoap/core
 */
export { Context } from './context'
export type { Address, ClientSessionOptions, Endpoint, EndpointOptions, MulticastResponse, SendInit, SendOptions, TransferProgress } from './types'
export { AsyncQueue } from './async-queue'
export { Session } from './session'
export type { TransmissionParameters } from './session'
export { Pdu } from './pdu'
export { Observation } from './observation'
export { CoapRequest } from './request'
export { Resource } from './resource'
export type { Body, HandlerResult, RequestHandler, ResourceAttributes } from './resource'
export { LogLevel, eventNames, nackReasons } from './constants'
export type { NackReason, SessionEventName } from './constants'
