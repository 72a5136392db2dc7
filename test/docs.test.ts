// The API reference (TypeDoc, `npm run docs`): built in-process from typedoc.json, it must have no
// warning, every exported class, function and constant (and the main option interfaces) of the
// three public entry points must carry an `@example`, and every example must type-check
// against the real API (`import … from 'libcoap'` resolved to lib/).
import * as path from 'node:path'
import ts from 'typescript'
import { Application, Comment, DeclarationReflection, LogLevel, Logger, ReflectionKind, TSConfigReader, TypeDocReader, type ProjectReflection, type Reflection } from 'typedoc'
import { beforeAll, describe, expect, it } from 'vitest'

const ROOT = path.resolve(__dirname, '..')

/** Kinds whose every export needs an example. */
const EXAMPLE_KINDS = ReflectionKind.Class | ReflectionKind.Function | ReflectionKind.Variable
/** Interfaces people write object literals of: they need one too. */
const MAIN_INTERFACES = [
  'libcoap.ClientOptions', 'libcoap.RequestOptions', 'libcoap.RequestInit', 'libcoap.ServerOptions',
  'libcoap.ResourceAttributes', 'libcoap.ClientPsk', 'libcoap.ClientPki', 'libcoap.ServerPsk', 'libcoap.ServerPki',
  'libcoap.TransmissionParameters', 'libcoap.CoapUri', 'libcoap.Link',
  'libcoap/core.ClientSessionOptions', 'libcoap/core.EndpointOptions', 'libcoap/core.SendInit', 'libcoap/core.SendOptions',
  'libcoap/compat.CoapRequestParams', 'libcoap/compat.CoapServerOptions', 'libcoap/compat.AgentOptions',
]

class Collecting extends Logger {
  readonly messages: string[] = []
  override log(message: string, level: LogLevel): void {
    super.log(message, level)
    if (level >= LogLevel.Warn) this.messages.push(`${LogLevel[level]}: ${message}`)
  }
}

let project: ProjectReflection
let logger: Collecting

beforeAll(async () => {
  const app = await Application.bootstrapWithPlugins({ options: path.join(ROOT, 'typedoc.json'), logLevel: 'Warn' }, [new TypeDocReader(), new TSConfigReader()])
  logger = new Collecting()
  app.logger = logger
  const converted = await app.convert()
  if (converted === undefined) throw new Error(`TypeDoc could not convert the project:\n${logger.messages.join('\n')}`)
  project = converted
  app.validate(project)
}, 60_000)

function commentOf(r: Reflection): Comment | undefined {
  if (r.comment) return r.comment
  if (r instanceof DeclarationReflection) return (r.signatures ?? r.getAllSignatures())[0]?.comment
  return undefined
}

function qualified(r: Reflection): string {
  return `${r.parent?.name}.${r.name}`
}

/** Every documented reflection that has `@example`s, with their code. */
function examples(): Array<{ where: string; code: string }> {
  const out: Array<{ where: string; code: string }> = []
  const seen = new Set<Comment>()
  for (const r of Object.values(project.reflections)) {
    const comments = [r.comment, ...(r instanceof DeclarationReflection ? r.getAllSignatures().map((s) => s.comment) : [])]
    for (const c of comments) {
      if (c === undefined || seen.has(c)) continue
      seen.add(c)
      for (const [i, tag] of c.getTags('@example').entries()) {
        const text = Comment.combineDisplayParts(tag.content)
        const blocks = [...text.matchAll(/```(?:ts|typescript)?\n([\s\S]*?)```/g)].map((m) => m[1])
        for (const [j, code] of (blocks.length ? blocks : [text]).entries()) out.push({ where: `${r.getFullName()}#${i}.${j}`, code })
      }
    }
  }
  return out
}

describe('API reference (TypeDoc)', () => {
  it('builds without a warning', () => {
    expect(logger.messages).toEqual([])
  })

  it('has an @example on every exported class, function and constant and the main interfaces', () => {
    const missing: string[] = []
    const interfaces = new Set(MAIN_INTERFACES)
    let checked = 0
    for (const mod of project.children ?? []) {
      for (const r of mod.children ?? []) {
        const needs = r.kindOf(EXAMPLE_KINDS) || (r.kindOf(ReflectionKind.Interface) && interfaces.delete(qualified(r)))
        if (!needs) continue
        checked++
        if (!commentOf(r)?.getTag('@example')) missing.push(`${qualified(r)} (${ReflectionKind.singularString(r.kind)})`)
      }
    }
    expect(interfaces, 'MAIN_INTERFACES names that are not exported').toEqual(new Set())
    expect(missing, `exports without an @example (of ${checked})`).toEqual([])
    expect(checked).toBeGreaterThan(60)
  })

  it('has examples that type-check against the real API', () => {
    const snippets = examples()
    const dir = path.join(ROOT, '.doc-examples')
    const files = new Map<string, { where: string; text: string }>()
    snippets.forEach((s, i) => files.set(path.join(dir, `example${i}.ts`), { where: s.where, text: `${s.code}\nexport {}\n` }))
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules/@types')],
      baseUrl: ROOT,
      paths: { libcoap: ['lib/index.ts'], 'libcoap/core': ['lib/core/index.ts'], 'libcoap/compat': ['lib/compat/index.ts'] },
    }
    const host = ts.createCompilerHost(options)
    const read = host.readFile.bind(host)
    const exists = host.fileExists.bind(host)
    const getSource = host.getSourceFile.bind(host)
    host.readFile = (f) => files.get(path.resolve(f))?.text ?? read(f)
    host.fileExists = (f) => files.has(path.resolve(f)) || exists(f)
    host.getSourceFile = (f, lang, onError, create) => {
      const snippet = files.get(path.resolve(f))
      return snippet ? ts.createSourceFile(f, snippet.text, lang) : getSource(f, lang, onError, create)
    }
    const program = ts.createProgram([...files.keys()], options, host)
    const errors: string[] = []
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const snippet = d.file && files.get(path.resolve(d.file.fileName))
      if (d.file && !snippet) continue // lib/ itself is checked by `npm run build:ts`
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0
      errors.push(`${snippet ? snippet.where : 'global'} line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
    }
    expect(errors).toEqual([])
    expect(snippets.length).toBeGreaterThan(60)
  }, 60_000)
})
